// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// A small JSON writer for lkctl's -j output: objects and arrays written in
// order, with ip(8)'s key names chosen by the caller; -p indents. Output
// only (lkctl never parses JSON), so a library would buy nothing.
#ifndef LKD_TOOLS_LKCTL_JSON_H_
#define LKD_TOOLS_LKCTL_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lkd::lkctl {

class JsonWriter {
 public:
  explicit JsonWriter(bool pretty) : pretty_(pretty) {}

  void BeginObject(std::string_view key = {}) { Open(key, '{'); }
  void EndObject() { Close('}'); }
  void BeginArray(std::string_view key = {}) { Open(key, '['); }
  void EndArray() { Close(']'); }

  void String(std::string_view key, std::string_view value);
  void Number(std::string_view key, int64_t value);
  void Bool(std::string_view key, bool value);
  void Strings(std::string_view key, const std::vector<std::string>& values);
  // An array element with no key.
  void String(std::string_view value) { String({}, value); }

  // The document, with a trailing newline.
  std::string Take();

 private:
  void Open(std::string_view key, char bracket);
  void Close(char bracket);
  void Key(std::string_view key);
  void Newline();

  bool pretty_;
  std::string out_;
  std::vector<bool> first_;  // per open container: no element yet
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace lkd::lkctl

#endif  // LKD_TOOLS_LKCTL_JSON_H_
