/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * stdio on kernel fds.
 *
 * glibc's streams read, write, seek and close with internal calls
 * (__read, __write, ...) that never reach this library. A FILE on a
 * kernel fd would therefore use the fd's host placeholder, /dev/null:
 * `ls > /lkd/list` (the shell's redirection made fd 1 a kernel fd) wrote
 * nothing and said nothing, and fopen() of a path under the prefix did
 * not find it. So every stream on a kernel fd is one of ours: a
 * fopencookie() stream whose functions are the hooked read, write, lseek
 * and close, with _fileno set to the fd so that fileno() (isatty, fstat)
 * still names it. glibc's cookie streams never use _fileno for I/O.
 *
 * Ours are made by fopen/fopen64 of a path lkd serves (under the prefix,
 * or relative to a working directory in lkd), fdopen of a kernel fd,
 * freopen to such a path, and for stdin, stdout and stderr when their fd
 * is a kernel one at start (inherited across exec) or becomes one by
 * dup2/dup3 (hooked: hijack.c calls follow_std_fd). A standard stream
 * moved back to a host fd by dup2/dup3 gets glibc's stream back.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE  /* we define the functions it would wrap */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rumpclient/hijack.h"

/* ---- the streams ---------------------------------------------------- */

/* A stream of ours: its fd, or -1 once the fd is no longer its to close
 * (a standard stream handed back to glibc's). */
struct kstream {
	int fd;
};

static ssize_t kstream_read(void *c, char *buf, size_t n)
{
	return read(((struct kstream *)c)->fd, buf, n);
}

/* glibc's cookie streams take a short write as an error: write it all, as
 * its own file streams do. */
static ssize_t kstream_write(void *c, const char *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(((struct kstream *)c)->fd, buf + done, n - done);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return done ? (ssize_t)done : -1;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

static int kstream_seek(void *c, off64_t *off, int whence)
{
	off_t r = lseek(((struct kstream *)c)->fd, *off, whence);
	if (r < 0) return -1;
	*off = r;
	return 0;
}

static void forget_std_stream(const struct kstream *k);

static int kstream_close(void *c)
{
	struct kstream *k = c;
	/* A standard stream of ours closed by the program (coreutils'
	 * close_stdout does so at exit): it stands in for nothing now. */
	forget_std_stream(k);
	int r = k->fd >= 0 ? close(k->fd) : 0;
	free(k);
	return r;
}

/* A stream of ours on kernel fd `fd`; NULL/errno (the fd stays open).
 * Its cookie in *cookie if asked. */
static FILE *kernel_stream_of(int fd, const char *mode, struct kstream **cookie)
{
	/* fopencookie knows r, w, a and +; the rest was for open(). */
	char m[3] = {mode[0], 0, 0};
	if (strchr(mode, '+')) m[1] = '+';
	struct kstream *k = malloc(sizeof(*k));
	if (k == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	k->fd = fd;
	cookie_io_functions_t io = {kstream_read, kstream_write, kstream_seek, kstream_close};
	FILE *f = fopencookie(k, m, io);
	if (f == NULL) {
		free(k);
		return NULL;
	}
	f->_fileno = fd;
	if (cookie) *cookie = k;
	return f;
}

static FILE *kernel_stream(int fd, const char *mode)
{
	return kernel_stream_of(fd, mode, NULL);
}

/* fopen's mode as open() flags; -1/EINVAL for a mode glibc refuses. */
static int mode_flags(const char *mode)
{
	int f;
	switch (mode[0]) {
	case 'r': f = O_RDONLY; break;
	case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
	default: errno = EINVAL; return -1;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+') f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'x') f |= O_EXCL;
		else if (*m == 'e') f |= O_CLOEXEC;
	}
	return f;
}

/* Opens `path` (one lkd serves) and makes a stream of ours on it. */
static FILE *open_kernel_stream(const char *path, const char *mode)
{
	int flags = mode_flags(mode);
	if (flags < 0) return NULL;
	int fd = open(path, flags, 0666);  /* hooked: the path goes to lkd */
	if (fd < 0) return NULL;
	FILE *f = kernel_stream(fd, mode);
	if (f == NULL) {
		int err = errno;
		close(fd);
		errno = err;
	}
	return f;
}

/* Whether lkd serves `path` (to_lkd leaves the caller's pointer alone). */
static int lkd_serves(const char *path)
{
	int dirfd = AT_FDCWD;
	const char *p = path;
	return opaque_ptr(path) && to_lkd(&dirfd, &p);
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (opaque_ptr(mode) && lkd_serves(path)) return open_kernel_stream(path, mode);
	LIBC(fopen);
	return host(path, mode);
}
/* The same function on x86-64, as in glibc. */
EXPORT FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

EXPORT FILE *fdopen(int fd, const char *mode)
{
	if (!is_kernel(fd) || !opaque_ptr(mode)) {
		LIBC(fdopen);
		return host(fd, mode);
	}
	/* As glibc's: the fd must be open, and open for what the mode asks. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0) return NULL;
	int want = mode_flags(mode);
	if (want < 0) return NULL;
	int acc = fl & O_ACCMODE;
	if ((want & O_ACCMODE) != acc && acc != O_RDWR) {
		errno = EINVAL;
		return NULL;
	}
	return kernel_stream(fd, mode);
}

/* At exit, glibc flushes its streams after the libraries' static
 * destructors, liblkclient's connection among them: a stream of ours
 * would then write into a closed session. Registered once attached, so
 * that it runs before those destructors (and after the program's own
 * handlers, which may still write). */
static void flush_at_exit(void) { fflush(NULL); }

void flush_streams_at_exit(void) { atexit(flush_at_exit); }

/* ---- the standard streams ------------------------------------------- */

/* For fd 0, 1, 2 while a stream of ours stands in for glibc's (all NULL
 * otherwise). Under g_std_lock. */
static struct std_slot {
	FILE *libc;		/* glibc's stream */
	FILE *file;		/* ours */
	struct kstream *cookie;	/* our stream's cookie */
} g_std[3];
/* Recursive: closing one of ours under it comes back through
 * forget_std_stream. */
static pthread_mutex_t g_std_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static void forget_std_stream(const struct kstream *k)
{
	pthread_mutex_lock(&g_std_lock);
	for (int fd = 0; fd < 3; fd++) {
		if (g_std[fd].cookie == k) g_std[fd] = (struct std_slot){0};
	}
	pthread_mutex_unlock(&g_std_lock);
}

static FILE **std_var(int fd)
{
	return fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
}

void std_fd_will_change(int fd)
{
	if (fd < 1 || fd > 2 || t_in_lib) return;
	/* What was written so far belongs to the fd's old file. */
	fflush(*std_var(fd));
}

void follow_std_fd(int fd)
{
	if (fd < 0 || fd > 2 || t_in_lib) return;
	pthread_mutex_lock(&g_std_lock);
	FILE **var = std_var(fd);
	struct std_slot *slot = &g_std[fd];
	if (is_kernel(fd) && slot->libc == NULL) {
		struct kstream *k;
		FILE *f = kernel_stream_of(fd, fd == 0 ? "r" : "w", &k);
		if (f != NULL) {
			/* stderr stays unbuffered; stdout is fully buffered, as
			 * glibc's is when it is not a terminal. */
			if (fd == 2) setvbuf(f, NULL, _IONBF, 0);
			*slot = (struct std_slot){.libc = *var, .file = f, .cookie = k};
			*var = f;
		}
	} else if (!is_kernel(fd) && slot->libc != NULL) {
		/* The fd is a host one now, not ours to close. The program's
		 * variable gets glibc's stream back unless it named another. */
		FILE *ours = slot->file;
		slot->cookie->fd = -1;
		if (*var == ours) *var = slot->libc;
		*slot = (struct std_slot){0};
		fclose(ours);
	}
	pthread_mutex_unlock(&g_std_lock);
}

/* freopen to a path lkd serves, or of a stream of ours (whose fd glibc's
 * freopen would replace on the host only). As glibc's: the stream keeps
 * its fd number when it had one, and a standard stream stays the standard
 * one (the program's stdin, stdout or stderr names the new stream). */
static FILE *freopen_ours(const char *path, const char *mode, FILE *stream)
{
	int std = stream == stdin ? 0 : stream == stdout ? 1 : stream == stderr ? 2 : -1;
	int fd = fileno(stream);
	fflush(stream);
	pthread_mutex_lock(&g_std_lock);
	if (std >= 0 && g_std[std].file == stream) {
		/* Ours: fclose closes the kernel fd (and forgets it). */
		*std_var(std) = g_std[std].libc;
		fclose(stream);
	} else if (std >= 0) {
		/* glibc's standard stream stays allocated for later. */
		if (fd >= 0) close(fd);
	} else {
		fclose(stream);
	}
	pthread_mutex_unlock(&g_std_lock);
	FILE *f;
	if (lkd_serves(path)) {
		int flags = mode_flags(mode);
		int nfd = flags < 0 ? -1 : open(path, flags, 0666);
		if (nfd < 0) return NULL;
		if (fd >= 0 && nfd != fd) {
			if (dup2(nfd, fd) < 0) {
				int err = errno;
				close(nfd);
				errno = err;
				return NULL;
			}
			close(nfd);
			nfd = fd;
		}
		if (std >= 0) {
			/* dup2 may have made it ours already. */
			follow_std_fd(std);
			if (is_kernel(std)) return *std_var(std);
		}
		f = kernel_stream(nfd, mode);
		if (f == NULL) close(nfd);
		return f;
	}
	LIBC(fopen);
	f = host(path, mode);
	if (f != NULL && fd >= 0 && fileno(f) != fd && dup2(fileno(f), fd) >= 0) {
		/* Keep the number, as glibc's freopen does. */
		fclose(f);
		f = fdopen(fd, mode);
	}
	if (f != NULL && std >= 0) *std_var(std) = f;
	return f;
}

static int is_ours_std(FILE *stream)
{
	pthread_mutex_lock(&g_std_lock);
	int ours = 0;
	for (int fd = 0; fd < 3; fd++)
		if (g_std[fd].file != NULL && g_std[fd].file == stream) ours = 1;
	pthread_mutex_unlock(&g_std_lock);
	return ours;
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	if (path != NULL && opaque_ptr(mode) && (lkd_serves(path) || is_ours_std(stream)))
		return freopen_ours(path, mode, stream);
	LIBC(freopen);
	return host(path, mode, stream);
}
EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	return freopen(path, mode, stream);
}
