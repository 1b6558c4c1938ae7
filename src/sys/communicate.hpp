// Internal: the engine behind process::communicate(). One implementation per
// I/O model: readiness with a poller (src/communicate_poller.cpp, POSIX) and
// overlapped I/O (src/windows/communicate_windows.cpp).
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/process.hpp"
#include "sys/large_buffer.hpp"

namespace pipekit::detail {

// Feeds options.input to `in` (then closes it) while draining `out` and `err`
// until both end, or until options.until (then ec = timed_out and the
// streams stay open). Closed streams take no part.
void communicate_streams(handle_stream& in, handle_stream& out, handle_stream& err, const communicate_options& options,
                         communicate_result& result, std::error_code& ec);

// Collects one output stream, into the result string or line by line into a
// callback. Reads land in one scratch buffer small enough to stay in the
// CPU's cache (not zero-filled), then are appended. The string's memory is
// what costs (fresh 4 KiB pages fill slower than a pipe moves data, see
// sys/large_buffer.hpp): up to small_output it grows as std::string does;
// past that it jumps to first_large_step (or the caller's reserve hint) and
// then doubles, in blocks backed by huge pages, so a 64 MiB output is one
// block touched once, never copied (measured: bench/bench_communicate.cpp).
class output_sink {
 public:
  output_sink(const std::function<void(std::string_view)>* on_line, std::size_t reserve)
      : on_line_(on_line), reserve_(reserve) {}

  std::span<std::byte> space() {
    if (!scratch_) scratch_ = std::make_unique_for_overwrite<char[]>(scratch_size);
    return std::as_writable_bytes(std::span(scratch_.get(), scratch_size));
  }

  void commit(std::size_t n, std::string& out) {
    if (!line_mode()) {
      make_room(out, n);
      out.append(scratch_.get(), n);
      return;
    }
    pending_.append(scratch_.get(), n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1)
      (*on_line_)(std::string_view(pending_).substr(start, nl - start));
    pending_.erase(0, start);
  }

  // End of stream: a last line without '\n' is still a line.
  void finish() {
    if (line_mode() && !pending_.empty()) (*on_line_)(pending_);
    pending_.clear();
  }

  static constexpr std::size_t scratch_size = std::size_t{256} << 10;
  static constexpr std::size_t small_output = scratch_size;
  static constexpr std::size_t first_large_step = std::size_t{64} << 20;

 private:
  bool line_mode() const { return on_line_ != nullptr && *on_line_; }

  void make_room(std::string& out, std::size_t n) const {
    const std::size_t need = out.size() + n;
    if (need <= out.capacity()) return;
    if (reserve_ > out.capacity()) {
      reserve_large(out, std::max(need, reserve_));
    } else if (need > small_output) {
      const std::size_t step = out.capacity() < first_large_step ? first_large_step : 2 * out.capacity();
      reserve_large(out, std::max(need, step));
    }  // else: std::string's own growth, on the heap
  }

  const std::function<void(std::string_view)>* on_line_;
  std::size_t reserve_;
  std::unique_ptr<char[]> scratch_;
  std::string pending_;
};

}  // namespace pipekit::detail
