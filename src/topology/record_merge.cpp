#include "topology/record_merge.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <new>
#include <optional>

#include "pipekit/error.hpp"
#include "topology/records.hpp"

namespace pipekit::detail {

namespace {
// How often a read waiting for data looks at output_.stop.
constexpr std::chrono::milliseconds stop_check{100};
constexpr std::size_t chunk = std::size_t{64} << 10;
// The most one tee looks at: records longer than this are checked against
// max_record only on the reading path, so zero copy needs max_record >= it.
constexpr std::size_t tee_max = std::size_t{1} << 20;
// How much of a tee'd chunk's end is read to find its last '\n'.
constexpr std::size_t tail_size = std::size_t{8} << 10;
constexpr std::size_t head_piece = std::size_t{4} << 10;
#if defined(__linux__)
constexpr bool has_tee = true;  // elsewhere tee_some() is not_supported: no scratch pipe to make
#else
constexpr bool has_tee = false;
#endif

// Reads exactly buffer.size() bytes that are known to be in `from`.
bool read_exactly(handle_stream& from, std::span<char> buffer, std::error_code& ec) {
  while (!buffer.empty()) {
    const std::size_t n = from.read_some(std::as_writable_bytes(buffer), no_deadline, ec);
    if (ec) return false;
    if (n == 0) {  // cannot happen to bytes a tee has shown: say so rather than loop
      ec = make_error_code(errc::protocol_error);
      return false;
    }
    buffer = buffer.subspan(n);
  }
  return true;
}
}  // namespace

record_reader::record_reader(handle_stream pipe, merge_options options, shared_output& output)
    : pipe_(std::move(pipe)), o_(std::move(options)), output_(output) {
  zero_copy_ = has_tee && o_.format == record_format::lines && o_.prefix.empty() && output_.pipe_out != nullptr &&
               o_.max_record >= tee_max;
}

void record_reader::run() noexcept {
  try {
    if (zero_copy_) {
      std::error_code ec;
      const std::size_t capacity = pipe_capacity(pipe_.native_handle(), ec);
      if (!ec) scratch_ = make_pipe(pipe_options{.capacity = capacity}, ec);
      zero_copy_ = !ec;
    }
    read_all();
  } catch (const std::bad_alloc&) {
    counts_.error = std::make_error_code(std::errc::not_enough_memory);
  }
  std::error_code ignored;
  pipe_.close(ignored);  // a child still writing sees a broken pipe, not a hang
}

void record_reader::read_all() {
  const auto buffer = std::make_unique_for_overwrite<char[]>(chunk);
  const std::span<char> space(buffer.get(), chunk);
  step s = step::more;
  while (s == step::more && !output_.stop.load(std::memory_order_relaxed))
    s = zero_copy_ ? splice_step(space) : copy_step(space);
}

std::optional<record_reader::step> record_reader::waited(std::size_t n, const std::error_code& ec) {
  if (ec == std::errc::timed_out) return step::more;
  if (ec) {
    fail(ec);
    return step::stop;
  }
  if (n == 0) {
    end_of_input();
    return step::end;
  }
  return std::nullopt;  // n bytes to take
}

record_reader::step record_reader::copy_step(std::span<char> buffer) {
  std::error_code ec;
  const std::size_t n = pipe_.read_some(std::as_writable_bytes(buffer), after(stop_check), ec);
  if (const std::optional<step> s = waited(n, ec)) return *s;
  return take(std::string_view(buffer.data(), n)) ? step::more : step::stop;
}

record_reader::step record_reader::splice_step(std::span<char> buffer) {
  std::error_code ec;
  const std::size_t n = tee_some(pipe_, scratch_.write_end, tee_max, after(stop_check), ec);
  if (ec == std::errc::timed_out) return step::more;
  if (ec == errc::not_supported) {  // not a pipe after all: read it
    zero_copy_ = false;
    return step::more;
  }
  if (const std::optional<step> s = waited(n, ec)) return *s;

  // Look at the tee'd copy: where its first '\n' is (needed to complete a
  // pending line) and its last (where the whole lines end).
  constexpr std::size_t none = std::string_view::npos;
  const bool need_first = !pending_.empty();
  std::size_t first = none;
  std::size_t last = none;
  std::uint64_t newlines = 0;
  std::size_t seen = 0;
  const auto scan = [&](std::size_t k, bool until_first) {
    while (k > 0) {
      // Looking for the first '\n' of short lines: a small piece is enough.
      const std::size_t most = until_first ? std::min(buffer.size(), head_piece) : buffer.size();
      const std::span<char> piece = buffer.first(std::min(k, most));
      if (!read_exactly(scratch_.read_end, piece, ec)) return false;
      const std::string_view v(piece.data(), piece.size());
      if (o_.count_records) newlines += static_cast<std::uint64_t>(std::count(v.begin(), v.end(), '\n'));
      if (const std::size_t f = v.find('\n'); f != none && first == none) first = seen + f;
      if (const std::size_t l = v.rfind('\n'); l != none) last = seen + l;
      seen += piece.size();
      k -= piece.size();
      if (until_first && first != none) break;
    }
    return true;
  };
  bool looked = true;
  if (o_.count_records) {
    looked = scan(n, false);
  } else {
    if (need_first) looked = scan(n, true);
    const std::size_t tail = std::min(n - seen, tail_size);
    for (std::size_t skip = n - seen - tail; looked && skip > 0;) {
      const std::size_t gone = discard_some(scratch_.read_end, skip, no_deadline, ec);
      looked = !ec && gone > 0;
      skip -= gone;
      seen += gone;
    }
    if (looked) looked = scan(tail, false);
    counts_.records_counted = false;
  }
  if (!looked) {
    fail(ec ? ec : make_error_code(errc::protocol_error));
    return step::stop;
  }

  if (last == none) return take_from_pipe(n, buffer) ? step::more : step::stop;  // no line ends here
  std::size_t at = 0;
  if (need_first) {  // the pending line first, through take()
    if (!take_from_pipe(first + 1, buffer)) return step::stop;
    at = first + 1;
  }
  if (last + 1 > at) {
    const std::size_t run = last + 1 - at;
    if (!splice_run(run)) return step::stop;
    counted(o_.count_records ? newlines - (need_first ? 1 : 0) : 0, run);
  }
  if (n > last + 1 && !take_from_pipe(n - last - 1, buffer)) return step::stop;
  return step::more;
}

bool record_reader::take_from_pipe(std::size_t n, std::span<char> buffer) {
  while (n > 0) {
    const std::span<char> piece = buffer.first(std::min(n, buffer.size()));
    std::error_code ec;
    if (!read_exactly(pipe_, piece, ec)) {
      fail(ec);
      return false;
    }
    if (!take(std::string_view(piece.data(), piece.size()))) return false;
    n -= piece.size();
  }
  return true;
}

bool record_reader::take(std::string_view data) {
  // Cuts whole records from the start of `v` into the next write: copied
  // (with the prefix) or, when `direct`, left where they are. Returns how
  // many bytes they took, or none with ok = false for a bad record.
  bool ok = true;
  const auto cut = [&](std::string_view v, bool direct) {
    std::size_t at = 0;
    for (;;) {
      bool bad = false;
      const std::size_t len = record_length(v.substr(at), o_.format, bad);
      if (bad || len > o_.max_record) {
        (void)flush();  // the records before it are whole and go out
        fail(make_error_code(bad ? errc::protocol_error : errc::message_too_large));
        ok = false;
        return at;
      }
      if (len == 0) break;
      if (!direct) {
        batch_ += o_.prefix;
        batch_.append(v.substr(at, len));
      }
      ++batch_records_;
      batch_bytes_ += len;
      at += len;
      if (direct) direct_ = v.substr(0, at);
    }
    return at;
  };
  const auto too_large = [&](std::string_view rest) {
    if (announced_length(rest, o_.format) <= o_.max_record) return false;
    (void)flush();
    fail(make_error_code(errc::message_too_large));
    return true;
  };

  if (!pending_.empty()) {
    if (o_.format == record_format::lines) {
      const std::size_t nl = data.find('\n');
      const std::string_view piece = nl == std::string_view::npos ? data : data.substr(0, nl + 1);
      pending_.append(piece);
      data.remove_prefix(piece.size());
      if (nl == std::string_view::npos) return !too_large(pending_);
      if (pending_.size() > o_.max_record) return !too_large(pending_);
      (void)cut(pending_, false);
      pending_.clear();
    } else {  // a frame's end may be anywhere, even in its header: join, then cut
      pending_.append(data);
      data = {};
      const std::size_t used = cut(pending_, false);
      if (!ok) return false;
      pending_.erase(0, used);
      if (too_large(pending_)) return false;
    }
  }
  const std::size_t used = cut(data, o_.prefix.empty());
  if (!ok) return false;
  data.remove_prefix(used);
  if (!data.empty()) {
    if (too_large(data)) return false;
    pending_.assign(data);
  }
  return flush();
}

void record_reader::end_of_input() {
  if (pending_.empty()) return;
  if (o_.format == record_format::frames) {  // cut short: never written half
    (void)flush();
    fail(make_error_code(errc::protocol_error));
    return;
  }
  batch_ += o_.prefix;
  batch_ += pending_;
  batch_ += '\n';
  ++batch_records_;
  batch_bytes_ += pending_.size() + 1;
  pending_.clear();
  counts_.unterminated_last = true;
  (void)flush();
}

bool record_reader::flush() {
  if (batch_.empty() && direct_.empty()) return !output_.stop.load(std::memory_order_relaxed);
  bool ok = false;
  {
    std::lock_guard<std::mutex> hold(output_.lock);
    if (!output_.error) {
      std::error_code ec;
      if (!batch_.empty()) (void)output_.out.write_all(std::as_bytes(std::span(batch_.data(), batch_.size())), ec);
      if (!ec && !direct_.empty())
        (void)output_.out.write_all(std::as_bytes(std::span(direct_.data(), direct_.size())), ec);
      if (ec) {
        output_.error = ec;
        output_.stop.store(true, std::memory_order_relaxed);
      } else {
        ok = true;
      }
    }
  }
  if (ok) counted(batch_records_, batch_bytes_);
  batch_.clear();
  direct_ = {};
  batch_records_ = 0;
  batch_bytes_ = 0;
  return ok;
}

bool record_reader::splice_run(std::size_t n) {
  std::lock_guard<std::mutex> hold(output_.lock);
  while (n > 0 && !output_.error) {
    std::error_code ec;
    const std::size_t moved = splice_some(pipe_, *output_.pipe_out, n, after(stop_check), ec);
    if (ec == std::errc::timed_out) {
      if (output_.stop.load(std::memory_order_relaxed)) return false;  // given up: the rest stays unsaid
      continue;
    }
    if (!ec && moved == 0) ec = make_error_code(errc::protocol_error);  // bytes a tee showed cannot vanish
    if (ec) {
      output_.error = ec;
      output_.stop.store(true, std::memory_order_relaxed);
      return false;
    }
    n -= moved;
  }
  return !output_.error;
}

void record_reader::counted(std::uint64_t records, std::uint64_t bytes) {
  counts_.records += records;
  counts_.bytes += bytes;
  live_bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

void record_reader::fail(std::error_code ec) {
  if (!counts_.error) counts_.error = ec;
}

}  // namespace pipekit::detail
