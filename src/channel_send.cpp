// The send path of a channel: frames written with gather writes while the
// peer's data is taken in (so two peers that both send cannot deadlock),
// the generic path for streams the channel cannot write itself, and the
// outgoing queue of post() and flush().
#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "channel_core.hpp"
#include "sys/channel_wire.hpp"

namespace pipekit::detail {

namespace {

using wire::encode_header;
using wire::header_size;
using wire::max_header;

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;

// While a receiver thread holds the receive side, a blocked send() does not
// read; it checks back this often in case that receiver has left recv().
constexpr auto receiver_busy_recheck = std::chrono::milliseconds(10);
// Payloads up to this size are copied behind their header for a writer that
// is not an OS handle, so that the frame still goes out in one write.
constexpr std::size_t generic_concat_limit = 16 * kib;
// Payloads up to this size are copied next to their header (see send_native).
constexpr std::size_t copy_limit = 2 * kib;
// The send scratch buffer kept between sends; a larger one is given back.
constexpr std::size_t scratch_keep = 1 * mib;

}  // namespace

// What a send that cannot go on does meanwhile: take in what the peer
// sends (so the peer's own send can finish and it starts reading ours).
class channel_core::waiter final : public send_waiter {
 public:
  explicit waiter(channel_core& core) noexcept : core_(core) {}

  native_handle_type drain_handle(deadline& slice) noexcept override {
    if (core_.rfd_ == invalid_native_handle) return invalid_native_handle;
    if (!core_.recv_mutex_.try_lock()) {
      // A receiver thread is reading, so the peer progresses; but that
      // thread may leave recv() and never come back while we wait.
      slice = std::min(slice, clock::now() + receiver_busy_recheck);
      return invalid_native_handle;
    }
    const bool can = core_.can_drain_locked();
    core_.recv_mutex_.unlock();
    return can ? core_.rfd_ : invalid_native_handle;
  }

  void drain() noexcept override {
    if (!core_.recv_mutex_.try_lock()) return;
    if (core_.can_drain_locked()) core_.drain_once_locked();
    core_.recv_mutex_.unlock();
  }

  std::error_code stop() noexcept override {
    if (core_.fatal_.load(std::memory_order_acquire) == 0) return {};
    core_.finish_fatal_close();
    return make_error_code(static_cast<errc>(core_.fatal_.load()));
  }

 private:
  channel_core& core_;
};

// Sends messages as frames. Returns how many went out whole.
std::size_t channel_core::send_frames(std::size_t count, const message_list& get, deadline until,
                                      std::error_code& ec) noexcept {
  ec.clear();
  std::unique_lock lock(send_mutex_);
  if (!check_send(ec)) return 0;
  if (queued() > 0 && !flush_locked(until, ec)) return 0;  // post()ed frames go first
  try {
    if (wfd_ == invalid_native_handle) return send_generic(count, get, until, ec);
    return send_native(count, get, until, ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }
}

void channel_core::close_send(std::error_code& ec) noexcept {
  ec.clear();
  std::lock_guard lock(send_mutex_);
  if (released_.load(std::memory_order_relaxed) || writer_ == nullptr || send_closed_.load()) return;
  if (writer_ == reader_) {
    if (wfd_ != invalid_native_handle && can_half_close(wkind_)) {
      shutdown_socket(wfd_, false, true, ec);
    } else {
      ec = make_error_code(errc::not_supported);  // a duplex stream that is not a socket cannot half-close
      return;
    }
  } else {
    writer_->close(ec);
  }
  send_closed_.store(true);
}

void channel_core::post(std::span<const std::byte> m, std::error_code& ec) noexcept {
  ec.clear();
  std::unique_lock lock(send_mutex_);
  if (!check_send(ec)) return;
  const std::size_t frame = header_size(m.size()) + m.size();
  if (queued() > 0 && queued() + frame > options_.max_queued_outgoing) {
    // Make room if the writer takes some now; else refuse.
    std::error_code ignored;
    (void)flush_locked(clock::now(), ignored);
    if (ignored && ignored != errc::timed_out) {
      ec = ignored;
      return;
    }
    if (queued() > 0 && queued() + frame > options_.max_queued_outgoing) {
      ec = std::make_error_code(std::errc::operation_would_block);
      return;
    }
  }
  std::byte header[max_header];
  std::span<const std::byte> pieces[2] = {{header, encode_header(m.size(), header)}, m};
  const bool was_empty = queued() == 0;
  if (was_empty) {
    // Nothing waits before it: the writer takes what it can straight from
    // the caller's buffer, and only the rest is copied into the queue.
    std::error_code wec;
    (void)write_now(pieces, clock::now(), wec);
    if (wec && wec != errc::timed_out) {
      ec = wec;
      return;
    }
  }
  try {
    if (out_head_ > 0 && out_head_ >= out_.size() / 2) {
      out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
      out_head_ = 0;
    }
    for (const auto& piece : pieces) out_.insert(out_.end(), piece.begin(), piece.end());
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  out_pending_.store(queued(), std::memory_order_relaxed);
  std::error_code wec;
  if (!was_empty && !flush_locked(clock::now(), wec) && wec != errc::timed_out) ec = wec;
}

bool channel_core::flush(deadline until, std::error_code& ec) noexcept {
  ec.clear();
  std::unique_lock lock(send_mutex_);
  if (queued() == 0) return true;
  if (!check_send(ec)) return false;
  return flush_locked(until, ec);
}

bool channel_core::check_send(std::error_code& ec) noexcept {
  if (fatal_.load(std::memory_order_acquire) != 0) {
    finish_fatal_close();
    ec = make_error_code(static_cast<errc>(fatal_.load()));
    return false;
  }
  if (released_.load(std::memory_order_relaxed) || send_closed_.load()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return false;
  }
  if (writer_ == nullptr) {
    ec = make_error_code(errc::not_supported);
    return false;
  }
  if (send_broken_) {
    ec = make_error_code(errc::protocol_error);
    return false;
  }
  return true;
}

// A fatal receive error happened while a send was in progress: the sender
// releases the handles (it holds the send side; receivers leave at once).
void channel_core::finish_fatal_close() noexcept {
  if (!close_pending_.exchange(false)) return;
  std::lock_guard lock(recv_mutex_);
  std::error_code ignored;
  release_locked(ignored);
}

// Writes the outgoing queue until it is empty (true), `until` passes or an
// error (false).
bool channel_core::flush_locked(deadline until, std::error_code& ec) noexcept {
  while (queued() > 0) {
    std::span<const std::byte> data[1] = {{out_.data() + out_head_, queued()}};
    out_head_ += write_now(data, until, ec);
    if (queued() == 0) {
      out_.clear();
      out_head_ = 0;
      if (out_.capacity() > scratch_keep) out_.shrink_to_fit();
    }
    out_pending_.store(queued(), std::memory_order_relaxed);
    if (ec) return false;
  }
  return true;
}

// Writes `pieces` (advanced in place) until they are out, `until` passes
// (timed_out) or an error; returns the bytes written.
std::size_t channel_core::write_now(std::span<std::span<const std::byte>> pieces, deadline until,
                                    std::error_code& ec) noexcept {
  std::size_t n = 0;
  if (wfd_ != invalid_native_handle) {
    if (!prepare_native_writer(ec)) return 0;
    waiter w(*this);
    n = write_pieces(wfd_, wkind_, pieces, until, w, ec);
  } else {
    for (auto& piece : pieces) {
      while (!piece.empty() && !ec) {
        const std::size_t k = writer_->write_some(piece, until, ec);
        n += k;
        piece = piece.subspan(k);
      }
    }
  }
  if (ec) {
    // A frame may be cut: nothing else can follow it in order.
    if (ec != errc::timed_out && !would_block(ec)) send_broken_ = true;
    if (would_block(ec)) ec = make_error_code(errc::timed_out);
    if (fatal_.load(std::memory_order_acquire) != 0) {
      finish_fatal_close();
      ec = make_error_code(static_cast<errc>(fatal_.load()));
    }
  }
  return n;
}

bool channel_core::prepare_native_writer(std::error_code& ec) noexcept {
  if (writer_needs_nonblocking(wkind_) && !writer_->nonblocking()) {
    // Pipes and FIFOs have no per-call non-blocking flag. Only the write
    // end changes; a child that inherits it should get it before the
    // first send (see channel.hpp).
    writer_->set_nonblocking(true, ec);
    if (ec) return false;
  }
  return true;
}

// Frames go out through gather writes: [header, payload, header, ...].
std::size_t channel_core::send_native(std::size_t count, const message_list& get, deadline until, std::error_code& ec) {
  if (!prepare_native_writer(ec)) return 0;
  // Small frames are copied behind their headers into one contiguous
  // buffer, so that a run of them is one plain write(): cheaper than
  // writev() of many tiny pieces (and the same bytes on the wire). A large
  // payload is referenced in place.
  std::size_t scratch_bytes = 0;
  std::size_t max_pieces = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t n = get(i).size();
    scratch_bytes += header_size(n) + (n <= copy_limit ? n : 0);
    max_pieces += n <= copy_limit ? 1 : 2;
  }
  if (scratch_.size() < scratch_bytes) scratch_.resize(std::max(scratch_bytes, 2 * scratch_.size()));
  if (pieces_.size() < max_pieces) pieces_.resize(std::max(max_pieces, 2 * pieces_.size()));
  const std::span<std::span<const std::byte>> pieces(pieces_);
  std::size_t n_pieces = 0;
  std::byte* run = scratch_.data();  // start of the current contiguous run
  std::byte* at = run;
  for (std::size_t i = 0; i < count; ++i) {
    const std::span<const std::byte> m = get(i);
    at += encode_header(m.size(), at);
    if (m.size() <= copy_limit) {
      if (!m.empty()) std::memcpy(at, m.data(), m.size());
      at += m.size();
    } else {
      pieces[n_pieces++] = {run, static_cast<std::size_t>(at - run)};
      pieces[n_pieces++] = m;
      run = at;
    }
  }
  if (at != run) pieces[n_pieces++] = {run, static_cast<std::size_t>(at - run)};

  std::size_t sent_msgs = 0;                                          // whole frames written
  std::size_t msg_left = header_size(get(0).size()) + get(0).size();  // bytes left of frame number sent_msgs
  bool frame_started = false;
  const auto account = [&](std::size_t n) {
    while (n > 0) {
      const std::size_t k = std::min(n, msg_left);
      msg_left -= k;
      n -= k;
      frame_started = true;
      if (msg_left == 0) {
        ++sent_msgs;
        frame_started = false;
        if (sent_msgs < count) {
          const std::span<const std::byte> m = get(sent_msgs);
          msg_left = header_size(m.size()) + m.size();
        }
      }
    }
  };
  waiter w(*this);
  account(write_pieces(wfd_, wkind_, pieces.first(n_pieces), until, w, ec));
  if (ec && frame_started) send_broken_ = true;
  if (scratch_.size() > scratch_keep) {
    // A huge batch does not pin its copy for the channel's lifetime.
    scratch_ = {};
    pieces_ = {};
  }
  if (ec && fatal_.load(std::memory_order_acquire) != 0) {
    // The receive side failed meanwhile (and shut a socket down, which is
    // what this send may have met): report the cause.
    finish_fatal_close();
    ec = make_error_code(static_cast<errc>(fatal_.load()));
  }
  return sent_msgs;
}

// For writers that are not OS handles: the stream's own blocking writes,
// header and small payload joined so that the frame is one write.
std::size_t channel_core::send_generic(std::size_t count, const message_list& get, deadline until,
                                       std::error_code& ec) {
  std::size_t sent = 0;
  for (; sent < count; ++sent) {
    const std::span<const std::byte> m = get(sent);
    std::byte header[max_header];
    const std::size_t hn = encode_header(m.size(), header);
    std::size_t done = 0;
    if (m.size() <= generic_concat_limit) {
      scratch_.assign(header, header + hn);
      scratch_.insert(scratch_.end(), m.begin(), m.end());
      done = writer_->write_all(scratch_, until, ec);
    } else {
      done = writer_->write_all(std::span<const std::byte>(header, hn), until, ec);
      if (!ec) done += writer_->write_all(m, until, ec);
    }
    if (ec) {
      if (done != 0) send_broken_ = true;
      break;
    }
  }
  return sent;
}

}  // namespace pipekit::detail
