// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "tools/lkctl/json.h"

#include <cstdio>

namespace lkd::lkctl {

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char esc[8];
          snprintf(esc, sizeof(esc), "\\u%04x", c);
          out += esc;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void JsonWriter::Newline() {
  if (!pretty_) return;
  out_ += '\n';
  out_.append(first_.size() * 4, ' ');
}

void JsonWriter::Key(std::string_view key) {
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
    Newline();
  }
  if (!key.empty()) out_ += JsonQuote(key) + (pretty_ ? ": " : ":");
}

void JsonWriter::Open(std::string_view key, char bracket) {
  Key(key);
  out_ += bracket;
  first_.push_back(true);
}

void JsonWriter::Close(char bracket) {
  bool empty = first_.back();
  first_.pop_back();
  if (!empty) Newline();
  out_ += bracket;
}

void JsonWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  out_ += JsonQuote(value);
}

void JsonWriter::Number(std::string_view key, int64_t value) {
  Key(key);
  out_ += std::to_string(value);
}

void JsonWriter::Bool(std::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
}

void JsonWriter::Strings(std::string_view key, const std::vector<std::string>& values) {
  BeginArray(key);
  for (const std::string& v : values) String(v);
  EndArray();
}

std::string JsonWriter::Take() {
  std::string out = std::move(out_);
  out_.clear();
  return out + "\n";
}

}  // namespace lkd::lkctl
