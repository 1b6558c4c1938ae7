#include "topology/line_merge.hpp"

#include <chrono>
#include <memory>
#include <new>
#include <span>
#include <string_view>

#include "pipekit/error.hpp"

namespace pipekit::detail {

namespace {
// How often a read waiting for data looks at output_.stop.
constexpr std::chrono::milliseconds stop_check{100};
constexpr std::size_t chunk = std::size_t{64} << 10;
}  // namespace

void line_reader::run() noexcept {
  try {
    read_all();
  } catch (const std::bad_alloc&) {
    counts_.error = std::make_error_code(std::errc::not_enough_memory);
  }
  std::error_code ignored;
  pipe_.close(ignored);  // a child still writing sees a broken pipe, not a hang
}

void line_reader::read_all() {
  const auto buffer = std::make_unique_for_overwrite<char[]>(chunk);
  std::error_code ec;
  while (!output_.stop.load(std::memory_order_relaxed)) {
    const std::size_t n =
        pipe_.read_some(std::as_writable_bytes(std::span(buffer.get(), chunk)), after(stop_check), ec);
    if (ec == std::errc::timed_out) {
      ec.clear();
      continue;
    }
    if (ec) {
      counts_.error = ec;
      break;
    }
    if (n == 0) {  // end of its output
      if (!pending_.empty()) {
        pending_ += '\n';
        add_line(pending_);
        pending_.clear();
        counts_.unterminated_last = true;
      }
      break;
    }
    std::string_view data(buffer.get(), n);
    for (std::size_t nl; (nl = data.find('\n')) != std::string_view::npos;) {
      const std::string_view piece = data.substr(0, nl + 1);
      if (pending_.size() + piece.size() > max_line_) return too_large();
      if (pending_.empty()) {
        add_line(piece);
      } else {
        pending_.append(piece);
        add_line(pending_);
        pending_.clear();
      }
      data.remove_prefix(nl + 1);
    }
    if (pending_.size() + data.size() > max_line_) return too_large();
    pending_.append(data);
    if (!flush()) return;
  }
  (void)flush();
}

void line_reader::add_line(std::string_view line) {
  batch_ += prefix_;
  batch_.append(line);
  ++batch_records_;
  batch_bytes_ += line.size();
}

bool line_reader::flush() {
  if (batch_.empty()) return true;
  std::lock_guard<std::mutex> hold(output_.lock);
  if (!output_.error) {
    std::error_code ec;
    (void)output_.out.write_all(std::as_bytes(std::span(batch_.data(), batch_.size())), ec);
    if (ec) {
      output_.error = ec;
      output_.stop.store(true, std::memory_order_relaxed);
    } else {
      counts_.records += batch_records_;
      counts_.bytes += batch_bytes_;
    }
  }
  batch_.clear();
  batch_records_ = 0;
  batch_bytes_ = 0;
  return !output_.error;
}

void line_reader::too_large() {
  (void)flush();  // the lines before it are whole and go out
  counts_.error = make_error_code(errc::message_too_large);
}

}  // namespace pipekit::detail
