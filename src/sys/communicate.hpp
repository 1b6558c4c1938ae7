// Internal: the engine behind process::communicate(). One implementation per
// I/O model: readiness with a poller (src/communicate_poller.cpp, POSIX) and
// overlapped I/O (src/windows/communicate_windows.cpp).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/process.hpp"

namespace pipekit::detail {

// Feeds options.input to `in` (then closes it) while draining `out` and `err`
// until both end, or until options.until (then ec = timed_out and the
// streams stay open). Closed streams take no part.
void communicate_streams(handle_stream& in, handle_stream& out, handle_stream& err, const communicate_options& options,
                         communicate_result& result, std::error_code& ec);

// Collects one output stream, into the result string or line by line into a
// callback. Reads land in one reused scratch buffer (not zero-filled), then
// are appended: fresh 1 MiB chunks per call cost more in page faults than
// the append's copy (measured: bench/bench_communicate.cpp).
class output_sink {
 public:
  explicit output_sink(const std::function<void(std::string_view)>* on_line) : on_line_(on_line) {}

  std::span<std::byte> space() {
    if (!scratch_) scratch_ = std::make_unique_for_overwrite<char[]>(scratch_size);
    return std::as_writable_bytes(std::span(scratch_.get(), scratch_size));
  }

  void commit(std::size_t n, std::string& out) {
    if (!line_mode()) {
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

 private:
  bool line_mode() const { return on_line_ != nullptr && *on_line_; }
  static constexpr std::size_t scratch_size = std::size_t{1} << 20;
  const std::function<void(std::string_view)>* on_line_;
  std::unique_ptr<char[]> scratch_;
  std::string pending_;
};

}  // namespace pipekit::detail
