#include "common/records.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>

namespace pipekit::cli {

const char* record_noun(record_framing f) noexcept {
  switch (f) {
    case record_framing::lines: return "line";
    case record_framing::nul: return "record";
    case record_framing::netstring: return "netstring";
  }
  return "record";
}

record_reader::record_reader(std::FILE* in, record_framing framing, std::uint64_t max_size)
    : in_(in), framing_(framing), max_(max_size), buf_(64 * 1024) {}

bool record_reader::fill() {
  if (pos_ < len_) return true;
  pos_ = 0;
  len_ = std::fread(buf_.data(), 1, buf_.size(), in_);
  if (len_ == 0 && std::ferror(in_) != 0) error_ = true;
  return len_ > 0;
}

bool record_reader::get(char& c) {
  if (!fill()) return false;
  c = buf_[pos_++];
  return true;
}

record_reader::result record_reader::next(std::string& out) {
  out.clear();
  if (framing_ == record_framing::netstring) return next_netstring(out);
  return next_delimited(out, framing_ == record_framing::nul ? '\0' : '\n');
}

record_reader::result record_reader::next_delimited(std::string& out, char delimiter) {
  for (;;) {
    if (!fill()) {
      if (error_) return result::io_error;
      return out.empty() ? result::end : result::record;  // the last one, without its delimiter
    }
    const char* start = buf_.data() + pos_;
    const auto* hit = static_cast<const char*>(std::memchr(start, delimiter, len_ - pos_));
    const std::size_t n = hit != nullptr ? static_cast<std::size_t>(hit - start) : len_ - pos_;
    if (out.size() + n > max_) return result::too_large;
    out.append(start, n);
    pos_ += n;
    if (hit != nullptr) {
      ++pos_;
      return result::record;
    }
  }
}

record_reader::result record_reader::next_netstring(std::string& out) {
  char c = 0;
  std::uint64_t len = 0;
  int digits = 0;
  for (;;) {
    if (!get(c)) {
      if (error_) return result::io_error;
      if (digits == 0) return result::end;
      detail_ = "the input ends inside its length";
      return result::malformed;
    }
    if (c == ':' && digits > 0) break;
    if (c < '0' || c > '9' || digits == 19) {
      detail_ = digits == 19 ? "its length has more than 19 digits"
                             : fmt::format("expected a digit or ':' in its length, got byte {}",
                                           static_cast<int>(static_cast<unsigned char>(c)));
      return result::malformed;
    }
    len = len * 10 + static_cast<std::uint64_t>(c - '0');
    ++digits;
  }
  announced_ = len;
  if (len > max_) return result::too_large;
  while (out.size() < len) {
    if (!fill()) {
      if (error_) return result::io_error;
      detail_ = fmt::format("the input ends after {} of its {} bytes", out.size(), len);
      return result::malformed;
    }
    const std::size_t n = std::min<std::uint64_t>(len - out.size(), len_ - pos_);
    out.append(buf_.data() + pos_, n);
    pos_ += n;
  }
  if (!get(c) || c != ',') {
    if (error_) return result::io_error;
    detail_ = "its payload is not followed by ','";
    return result::malformed;
  }
  return result::record;
}

std::string record_prefix(std::size_t size, record_framing framing) {
  return framing == record_framing::netstring ? fmt::format("{}:", size) : std::string();
}

char record_suffix(record_framing framing) noexcept {
  switch (framing) {
    case record_framing::lines: return '\n';
    case record_framing::nul: return '\0';
    case record_framing::netstring: return ',';
  }
  return '\n';
}

}  // namespace pipekit::cli
