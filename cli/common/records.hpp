// Records on a byte stream, as `pipekit msg` reads them from stdin and
// writes them to stdout: one per line (the default), one per NUL-terminated
// string (-0, as find -print0 and xargs -0), or netstrings (--netstring).
//
// A netstring is "LEN:PAYLOAD," with LEN the payload's size in decimal
// ("5:hello," "0:,"), so any bytes, newlines and NULs included, come
// through unambiguously. From a shell: `printf '5:hello,'`, and
//   while IFS= read -r -d: len; do head -c "$len"; head -c 1 >/dev/null; done
// (bash) reads them back.
//
// Delimited records: the last one may lack its delimiter; an empty input
// has none. A record is never held whole in memory past `max_size` + 1
// bytes: a longer one is reported as too large instead.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace pipekit::cli {

enum class record_framing { lines, nul, netstring };

// "line", "record", "netstring": what one record is called in messages.
const char* record_noun(record_framing f) noexcept;

class record_reader {
 public:
  enum class result { record, end, too_large, malformed, io_error };

  record_reader(std::FILE* in, record_framing framing, std::uint64_t max_size);

  // The next record into `out`. too_large: the record is longer than
  // max_size (for a netstring, announced_size() says by how much);
  // malformed: a netstring that is not one (detail() says what is wrong).
  result next(std::string& out);

  [[nodiscard]] std::uint64_t announced_size() const noexcept { return announced_; }
  [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

 private:
  bool fill();  // more input into buf_; false at end (or error: error_ set)
  bool get(char& c);
  result next_delimited(std::string& out, char delimiter);
  result next_netstring(std::string& out);

  std::FILE* in_;
  record_framing framing_;
  std::uint64_t max_;
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t len_ = 0;
  bool error_ = false;
  std::uint64_t announced_ = 0;
  std::string detail_;
};

// What goes before and after a payload of `size` bytes on output: "" and
// '\n', "" and '\0', or "LEN:" and ','.
std::string record_prefix(std::size_t size, record_framing framing);
char record_suffix(record_framing framing) noexcept;

}  // namespace pipekit::cli
