// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// errno and absl::Status: the one place they are translated. A Status made
// here keeps its errno (as a payload), so a caller further out that needs
// an errno again (liblkclient's -1/errno API) reads it back with ErrnoOf
// instead of guessing it from the canonical code or parsing the message.
#ifndef LKD_COMMON_ERRNO_STATUS_H_
#define LKD_COMMON_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lkd {

// "<what>: <strerror text> (EEXIST)" with errno `err`'s canonical code,
// carrying `err`. The errno's name is what people search for and what
// tests match on. `err` 0 is OK.
absl::Status ErrnoStatus(int err, absl::string_view what);

// The same with the errno explained for this operation in `words`:
// "<what>: <words> (EINVAL)".
absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view words);

// For a kernel-style result: OK for rc >= 0, else ErrnoStatus(-rc, what).
absl::Status SysStatus(long rc, absl::string_view what);

// Adds an errno to a Status made elsewhere (same code and message), for
// errors whose errno is known but whose text says more than strerror.
// Does nothing to an OK status.
absl::Status WithErrno(absl::Status status, int err);

// The errno a Status carries; one that carries none (made outside this
// file) gets the errno closest to its canonical code. 0 for OK.
int ErrnoOf(const absl::Status& status);

// Whether the status carries an errno (was made or marked here).
bool HasErrno(const absl::Status& status);

// Prefixes a status's message with the item it is about ("<what>: ..."),
// keeping its code and payloads (its errno).
absl::Status About(absl::string_view what, const absl::Status& status);

}  // namespace lkd

#endif  // LKD_COMMON_ERRNO_STATUS_H_
