// Channels: multiprocessing.connection framing over any stream, the receive
// buffer that lets a blocked send() take in the peer's data (so two-way
// traffic cannot deadlock), and the bounds that keep a hostile peer from
// making us allocate what it announces.
#include "pipekit/channel.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"
#include "sys/channel_io.hpp"
#include "sys/io.hpp"
#include "sys/large_buffer.hpp"

namespace pipekit {

namespace detail {

namespace {

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;

// Python writes the 8-byte form only above this; we accept either form.
constexpr std::uint64_t max_short_length = 0x7fffffff;
constexpr std::size_t max_header = 12;

// The receive buffer's size in normal use: one read takes in many small
// messages at once.
constexpr std::size_t rx_default_capacity = 64 * kib;
// A remaining payload at least this large is read straight into the message
// (no copy); a smaller one goes through the receive buffer, so the same read
// also takes in the messages after it.
constexpr std::size_t direct_read_threshold = 32 * kib;
// A message's payload gets its announced size as capacity at once (one
// allocation, never copied), but std::string cannot grow its size without
// zero-filling, and zero-filling touches memory: so the size grows only this
// far ahead of what arrived, and a peer that announces a large message and
// sends little makes us hold address space, not memory.
constexpr std::size_t payload_fill_step = 1 * mib;
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

std::size_t header_size(std::size_t n) noexcept { return static_cast<std::uint64_t>(n) <= max_short_length ? 4 : 12; }

std::size_t encode_header(std::size_t n, std::byte* out) noexcept {
  const auto put = [out](std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out[at + i] = static_cast<std::byte>(v >> (8 * (bytes - 1 - i)));
  };
  if (static_cast<std::uint64_t>(n) <= max_short_length) {
    put(0, n, 4);
    return 4;
  }
  put(0, 0xffffffffu, 4);  // -1: an 8-byte length follows
  put(4, n, 8);
  return 12;
}

std::uint64_t decode_be(const std::byte* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

// What a channel may do with a stream's OS handle itself, decided once from
// the stream's capabilities: wait on it (reader, writer) and write gathered
// frames to it (writer).
struct native_info {
  native_handle_type fd = invalid_native_handle;
  bool direct_writes = false;
  handle_kind kind = handle_kind::other;
};

native_info inspect(const stream* s) noexcept {
  native_info info;
  if (s == nullptr) return info;
  const stream_caps caps = s->capabilities();
  if (!any(caps & stream_caps::native_handle)) return info;
  info.fd = s->native_handle();
  info.kind = classify_handle(info.fd);
  // A pipe or FIFO can only be written without blocking in non-blocking
  // mode: such a writer must be able to switch.
  info.direct_writes = any(caps & stream_caps::gather_write) &&
                       (!writer_needs_nonblocking(info.kind) || any(caps & stream_caps::nonblocking));
  return info;
}

}  // namespace

class channel_core final : public poll_source {
 public:
  channel_core(std::unique_ptr<stream> first, std::unique_ptr<stream> second, bool duplex,
               const channel_options& options)
      : first_(std::move(first)), second_(std::move(second)), options_(options) {
    reader_ = first_.get();
    writer_ = duplex ? first_.get() : second_.get();
    const native_info r = inspect(reader_);
    const native_info w = inspect(writer_);
    rfd_ = r.fd;
    // A writer whose handle the channel cannot write itself is written
    // through the stream (send_generic).
    wfd_ = w.direct_writes ? w.fd : invalid_native_handle;
    wkind_ = w.kind;
    rkind_ = r.kind;
    if (writer_ == reader_ && wfd_ != invalid_native_handle && writer_needs_nonblocking(wkind_)) {
      // A duplex stream that is not a socket (a tty, a device) has no
      // per-call non-blocking flag, and its reader shares the mode: switch
      // it now, before a sender and a receiver thread could race on it.
      std::error_code ignored;
      writer_->set_nonblocking(true, ignored);
    }
  }

  // ---- sending ----------------------------------------------------------

  // Sends messages as frames. Returns how many went out whole.
  template <class Get>
  std::size_t send_frames(std::size_t count, Get get, deadline until, std::error_code& ec) noexcept {
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

  void close_send(std::error_code& ec) noexcept {
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

  // ---- receiving --------------------------------------------------------

  bool recv(std::string& out, deadline until, std::error_code& ec) noexcept {
    ec.clear();
    std::unique_lock lock(recv_mutex_);
    if (const int f = fatal_.load(std::memory_order_acquire)) {
      ec = make_error_code(static_cast<errc>(f));
      return false;
    }
    if (released_.load(std::memory_order_relaxed)) {
      ec = std::make_error_code(std::errc::bad_file_descriptor);
      return false;
    }
    if (reader_ == nullptr) {
      ec = make_error_code(errc::not_supported);
      return false;
    }
    bool got = false;
    try {
      got = recv_locked(out, until, ec);
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
    note_ready_locked();
    return got;
  }

  // ---- as an event source (poller::add(*ch.event_source(), ...)) ----------

  std::size_t watches(events interest, std::span<watch> out) noexcept override {
    if (released_.load(std::memory_order_relaxed)) return 0;
    const events r = interest & events::readable;
    const events w = interest & events::writable;
    const native_handle_type rh = any(r) && reader_ ? reader_->native_handle() : invalid_native_handle;
    const native_handle_type wh = any(w) && writer_ ? writer_->native_handle() : invalid_native_handle;
    watch want[2];
    std::size_t n = 0;
    if (rh != invalid_native_handle && rh == wh) {
      want[n++] = {rh, r | w};  // one handle cannot be registered twice
    } else {
      if (rh != invalid_native_handle) want[n++] = {rh, r};
      if (wh != invalid_native_handle) want[n++] = {wh, w};
    }
    std::copy_n(want, std::min(n, out.size()), out.begin());
    return n;
  }

  // A whole message (or the end, or an error) waits in the receive buffer,
  // where the read handle cannot say so: a blocked send() took it in.
  events ready_now(events interest) noexcept override {
    if (!any(interest & events::readable) || released_.load(std::memory_order_relaxed)) return events::none;
    if (fatal_.load(std::memory_order_acquire) != 0) return events::readable | events::error;
    return rx_ready_.load(std::memory_order_acquire) ? events::readable : events::none;
  }

  events dispatch(events, std::span<const events> reported) noexcept override {
    events got = events::none;
    for (const events e : reported) got |= e;
    return got;
  }

  // ---- both -------------------------------------------------------------

  void close(std::error_code& ec) noexcept {
    ec.clear();
    std::scoped_lock lock(send_mutex_, recv_mutex_);
    const bool dropped = queued() > 0;
    release_locked(ec);
    if (!ec && dropped) ec = std::make_error_code(std::errc::operation_canceled);
  }

  // ---- the outgoing queue -------------------------------------------------

  void post(std::span<const std::byte> m, std::error_code& ec) noexcept {
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

  bool flush(deadline until, std::error_code& ec) noexcept {
    ec.clear();
    std::unique_lock lock(send_mutex_);
    if (queued() == 0) return true;
    if (!check_send(ec)) return false;
    return flush_locked(until, ec);
  }

  std::size_t pending_outgoing() const noexcept { return out_pending_.load(std::memory_order_relaxed); }

  std::size_t buffered_incoming() const noexcept { return rx_buffered_.load(std::memory_order_relaxed); }
  bool is_open() const noexcept {
    return !released_.load(std::memory_order_relaxed) && (reader_ != nullptr || writer_ != nullptr);
  }
  bool can_send() const noexcept {
    return !released_.load(std::memory_order_relaxed) && writer_ != nullptr && !send_closed_.load() &&
           fatal_.load() == 0;
  }
  bool can_recv() const noexcept {
    return !released_.load(std::memory_order_relaxed) && reader_ != nullptr && fatal_.load() == 0;
  }
  stream* reader() const noexcept { return reader_; }
  stream* writer() const noexcept { return writer_; }
  native_handle_type read_handle() const noexcept {
    return released_.load(std::memory_order_relaxed) ? invalid_native_handle
           : reader_                                 ? reader_->native_handle()
                                                     : invalid_native_handle;
  }
  native_handle_type write_handle() const noexcept {
    return released_.load(std::memory_order_relaxed) ? invalid_native_handle
           : writer_                                 ? writer_->native_handle()
                                                     : invalid_native_handle;
  }
  const channel_options& options() const noexcept { return options_; }

 private:
  // ---- send side (send_mutex_ held) --------------------------------------

  bool check_send(std::error_code& ec) noexcept {
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
  void finish_fatal_close() noexcept {
    if (!close_pending_.exchange(false)) return;
    std::lock_guard lock(recv_mutex_);
    std::error_code ignored;
    release_locked(ignored);
  }

  std::size_t queued() const noexcept { return out_.size() - out_head_; }

  // Writes the outgoing queue until it is empty (true), `until` passes or an
  // error (false).
  bool flush_locked(deadline until, std::error_code& ec) noexcept {
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
  std::size_t write_now(std::span<std::span<const std::byte>> pieces, deadline until, std::error_code& ec) noexcept {
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

  bool prepare_native_writer(std::error_code& ec) noexcept {
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
  template <class Get>
  std::size_t send_native(std::size_t count, Get get, deadline until, std::error_code& ec) {
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

  // What a send that cannot go on does meanwhile: take in what the peer
  // sends (so the peer's own send can finish and it starts reading ours).
  class waiter final : public send_waiter {
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

  // For writers that are not OS handles: the stream's own blocking writes,
  // header and small payload joined so that the frame is one write.
  template <class Get>
  std::size_t send_generic(std::size_t count, Get get, deadline until, std::error_code& ec) {
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

  // ---- receive side (recv_mutex_ held) ------------------------------------

  std::size_t rx_size() const noexcept { return rx_end_ - rx_begin_; }
  void rx_consume(std::size_t n) noexcept {
    rx_begin_ += n;
    if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
    rx_buffered_.store(rx_size(), std::memory_order_relaxed);
  }
  void rx_produced(std::size_t n) noexcept {
    rx_end_ += n;
    rx_buffered_.store(rx_size(), std::memory_order_relaxed);
  }

  // Free space at the tail of the receive buffer: at least `want` bytes if
  // the bound allows (compacting, then growing), else what there is.
  std::span<std::byte> rx_tail(std::size_t want) {
    if (!rx_) {
      rx_ = std::make_unique_for_overwrite<std::byte[]>(rx_default_capacity);
      rx_capacity_ = rx_default_capacity;
    }
    if (rx_capacity_ - rx_end_ < want && rx_begin_ > 0) {
      std::memmove(rx_.get(), rx_.get() + rx_begin_, rx_size());
      rx_end_ -= rx_begin_;
      rx_begin_ = 0;
    }
    if (rx_capacity_ - rx_end_ < want) {
      const std::size_t bound = std::max(rx_default_capacity, options_.max_buffered_incoming);
      const std::size_t wanted = std::min(bound, std::max(2 * rx_capacity_, rx_end_ + want));
      if (wanted > rx_capacity_) {
        auto bigger = std::make_unique_for_overwrite<std::byte[]>(wanted);
        std::memcpy(bigger.get(), rx_.get(), rx_end_);
        rx_ = std::move(bigger);
        rx_capacity_ = wanted;
      }
    }
    return {rx_.get() + rx_end_, rx_capacity_ - rx_end_};
  }

  // Gives back a receive buffer a blocked send() enlarged, once it is empty.
  void rx_shrink_if_idle() noexcept {
    if (rx_capacity_ > rx_default_capacity && rx_size() == 0) {
      rx_.reset();
      rx_capacity_ = 0;
      rx_begin_ = rx_end_ = 0;
    }
  }

  bool can_drain_locked() const noexcept {
    return !released_.load(std::memory_order_relaxed) && fatal_.load(std::memory_order_relaxed) == 0 && !rx_eof_ &&
           !rx_error_ && rx_size() < options_.max_buffered_incoming;
  }

  // One read that cannot block, into the receive buffer (up to the bound).
  void drain_once_locked() noexcept {
    try {
      const std::size_t room = options_.max_buffered_incoming - rx_size();
      std::span<std::byte> tail = rx_tail(std::min(room, 256 * kib));
      tail = tail.first(std::min(tail.size(), room));
      if (tail.empty()) return;
      std::error_code ec;
      // An already-due deadline: a blocking reader is polled first, so a
      // receiver that took the bytes since our poll cannot make us block.
      const std::size_t n = reader_->read_some(tail, clock::now(), ec);
      if (ec) {
        if (ec != std::errc::timed_out && !would_block(ec)) rx_error_ = ec;  // recv() reports it
        return;
      }
      if (n == 0) {
        rx_eof_ = true;
        return;
      }
      rx_produced(n);
    } catch (const std::bad_alloc&) {
      // Stop taking in; the peer waits until recv() makes room.
    }
    note_ready_locked();
  }

  // Whether recv() would return at once with what is buffered: a whole
  // frame, the rest of the message in progress, or the end or an error
  // found by a blocked send(). Kept for ready_now(), which any thread asks.
  void note_ready_locked() noexcept {
    bool ready = rx_eof_ || static_cast<bool>(rx_error_);
    if (!ready && rx_in_message_) {
      ready = rx_size() >= rx_size_ - rx_got_;
    } else if (!ready && rx_size() >= 4) {
      const std::byte* p = rx_.get() + rx_begin_;
      const auto length = static_cast<std::int32_t>(static_cast<std::uint32_t>(decode_be(p, 4)));
      if (length >= 0) {
        ready = rx_size() - 4 >= static_cast<std::size_t>(length);
      } else if (length != -1) {
        ready = true;  // a bad header: recv() reports it at once
      } else if (rx_size() >= 12) {
        ready = rx_size() - 12 >= decode_be(p + 4, 8);
      }
    }
    rx_ready_.store(ready, std::memory_order_release);
  }

  // Reads more into the receive buffer. 0: end of stream.
  std::size_t rx_fill(deadline until, std::error_code& ec) {
    if (rx_error_) {
      ec = std::exchange(rx_error_, {});
      return 0;
    }
    if (rx_eof_) return 0;
    const std::span<std::byte> tail = rx_tail(4 * kib);
    const std::size_t n = reader_->read_some(tail, until, ec);
    if (ec) return 0;
    if (n == 0) {
      rx_eof_ = true;
      return 0;
    }
    rx_produced(n);
    return n;
  }

  // Makes sure `n` bytes are buffered. false: error, or end of stream
  // (`eof` set) before they came.
  bool rx_need(std::size_t n, deadline until, bool& eof, std::error_code& ec) {
    eof = false;
    while (rx_size() < n) {
      if (rx_fill(until, ec) == 0) {
        if (!ec) eof = true;
        return false;
      }
    }
    return true;
  }

  bool fail_locked(errc e, std::error_code& ec) noexcept {
    ec = make_error_code(e);
    int expected = 0;
    fatal_.compare_exchange_strong(expected, static_cast<int>(e), std::memory_order_acq_rel);
    rx_in_message_ = false;
    rx_partial_ = std::string();
    // A sender blocked on a socket wakes up now; it sees fatal_.
    if (rfd_ != invalid_native_handle && can_half_close(rkind_)) {
      std::error_code ignored;
      shutdown_socket(rfd_, true, true, ignored);
    }
    if (send_mutex_.try_lock()) {
      std::error_code ignored;
      release_locked(ignored);
      send_mutex_.unlock();
    } else {
      close_pending_.store(true);
    }
    return false;
  }

  bool recv_locked(std::string& out, deadline until, std::error_code& ec) {
    bool eof = false;
    if (!rx_in_message_) {
      if (!rx_need(4, until, eof, ec)) {
        if (!eof) return false;
        if (rx_size() == 0) return false;              // the clean end: between messages
        return fail_locked(errc::protocol_error, ec);  // header cut off
      }
      const std::byte* p = rx_.get() + rx_begin_;
      const auto length = static_cast<std::int32_t>(static_cast<std::uint32_t>(decode_be(p, 4)));
      std::uint64_t size = 0;
      std::size_t header = 4;
      if (length == -1) {
        if (!rx_need(12, until, eof, ec)) return eof ? fail_locked(errc::protocol_error, ec) : false;
        size = decode_be(rx_.get() + rx_begin_ + 4, 8);
        header = 12;
      } else if (length < 0) {
        return fail_locked(errc::protocol_error, ec);
      } else {
        size = static_cast<std::uint64_t>(length);
      }
      // Checked before anything is allocated for the payload.
      if (size > options_.max_message_size) return fail_locked(errc::message_too_large, ec);
      if (out.capacity() < size) {
        out.clear();  // replaced anyway: nothing to copy into the new block
        try {
          reserve_large(out, static_cast<std::size_t>(size));
        } catch (const std::bad_alloc&) {
          // The header stays buffered: a later recv() can try again.
          ec = std::make_error_code(std::errc::not_enough_memory);
          return false;
        }
      }
      rx_consume(header);
      rx_in_message_ = true;
      rx_size_ = static_cast<std::size_t>(size);
      rx_got_ = 0;
    } else {
      out.swap(rx_partial_);  // continue the message an earlier recv() started
      rx_partial_ = std::string();
    }

    const std::size_t size = rx_size_;
    std::size_t got = rx_got_;
    const auto keep_partial = [&] {
      rx_got_ = got;
      rx_partial_.swap(out);
      return false;
    };
    while (got < size) {
      if (std::min(out.size(), size) <= got) {
        // Within the capacity reserved above: no allocation, only the
        // zero-fill of one step (a reused string is already written).
        out.resize(std::min(size, got + payload_fill_step));
      }
      const std::size_t room = std::min(out.size(), size) - got;
      if (rx_size() > 0) {
        const std::size_t k = std::min(room, rx_size());
        std::memcpy(out.data() + got, rx_.get() + rx_begin_, k);
        rx_consume(k);
        got += k;
        continue;
      }
      std::size_t n = 0;
      if (rx_error_) {
        ec = std::exchange(rx_error_, {});
        return keep_partial();
      }
      if (!rx_eof_ && size - got >= direct_read_threshold) {
        n = reader_->read_some(std::as_writable_bytes(std::span(out.data() + got, room)), until, ec);
        if (n == 0 && !ec) rx_eof_ = true;
        got += n;
      } else {
        n = rx_fill(until, ec);
      }
      if (ec) return keep_partial();
      if (n == 0) return fail_locked(errc::protocol_error, ec);  // payload cut off
    }
    out.resize(size);
    rx_in_message_ = false;
    rx_shrink_if_idle();
    return true;
  }

  // ---- both sides (both mutexes held) -------------------------------------

  void release_locked(std::error_code& ec) noexcept {
    if (released_.load(std::memory_order_relaxed)) return;
    std::error_code e1;
    std::error_code e2;
    if (first_) first_->close(e1);
    if (second_) second_->close(e2);
    released_.store(true);
    rx_.reset();
    rx_capacity_ = rx_begin_ = rx_end_ = 0;
    rx_buffered_.store(0, std::memory_order_relaxed);
    rx_partial_ = std::string();
    out_ = {};
    out_head_ = 0;
    out_pending_.store(0, std::memory_order_relaxed);
    ec = e1 ? e1 : e2;
  }

  std::unique_ptr<stream> first_;
  std::unique_ptr<stream> second_;
  stream* reader_ = nullptr;
  stream* writer_ = nullptr;
  channel_options options_;
  // Fixed at construction; only used while the handles are open.
  native_handle_type rfd_ = invalid_native_handle;
  native_handle_type wfd_ = invalid_native_handle;
  handle_kind wkind_ = handle_kind::other;
  handle_kind rkind_ = handle_kind::other;

  // Lock order: send_mutex_, then recv_mutex_ (the receive side only ever
  // try_locks the send side). The handles are closed with both held: the
  // reader is used by recv() and polled by a blocked send().
  std::mutex send_mutex_;
  std::mutex recv_mutex_;

  // Send side (send_mutex_).
  bool send_broken_ = false;                        // a frame was cut by an error: nothing more can go out in order
  std::vector<std::byte> scratch_;                  // headers and small payloads, reused
  std::vector<std::span<const std::byte>> pieces_;  // what one gather write sends, reused
  std::vector<std::byte> out_;                      // post()ed frames not written yet, from out_head_ on
  std::size_t out_head_ = 0;
  std::atomic<std::size_t> out_pending_{0};  // queued(), for pending_outgoing() from any thread

  // Receive side (recv_mutex_).
  std::unique_ptr<std::byte[]> rx_;
  std::size_t rx_capacity_ = 0;
  std::size_t rx_begin_ = 0;
  std::size_t rx_end_ = 0;
  bool rx_eof_ = false;
  std::error_code rx_error_;  // a read error a blocked send() met, for recv() to report
  bool rx_in_message_ = false;
  std::size_t rx_size_ = 0;
  std::size_t rx_got_ = 0;
  std::string rx_partial_;

  // Read from any thread.
  std::atomic<std::size_t> rx_buffered_{0};
  std::atomic<int> fatal_{0};  // an errc once the incoming side failed
  std::atomic<bool> close_pending_{false};
  std::atomic<bool> released_{false};
  std::atomic<bool> send_closed_{false};
  std::atomic<bool> rx_ready_{false};  // see note_ready_locked()
};

}  // namespace detail

namespace {

std::error_code closed_error() { return std::make_error_code(std::errc::bad_file_descriptor); }

std::span<const std::byte> as_bytes(std::string_view s) noexcept { return std::as_bytes(std::span(s)); }

}  // namespace

channel::channel() noexcept = default;

channel::channel(std::unique_ptr<stream> duplex, const channel_options& options)
    : core_(std::make_unique<detail::channel_core>(std::move(duplex), nullptr, true, options)) {}

channel::channel(std::unique_ptr<stream> reader, std::unique_ptr<stream> writer, const channel_options& options)
    : core_(std::make_unique<detail::channel_core>(std::move(reader), std::move(writer), false, options)) {}

channel::channel(handle_stream duplex, const channel_options& options)
    : channel(std::make_unique<handle_stream>(std::move(duplex)), options) {}

channel::channel(handle_stream reader, handle_stream writer, const channel_options& options)
    : channel(std::make_unique<handle_stream>(std::move(reader)), std::make_unique<handle_stream>(std::move(writer)),
              options) {}

channel::channel(channel&& other) noexcept = default;

channel& channel::operator=(channel&& other) noexcept {
  if (this != &other) {
    std::error_code ignored;
    close(ignored);
    core_ = std::move(other.core_);
  }
  return *this;
}

channel::~channel() {
  std::error_code ignored;
  close(ignored);
}

channel channel::from_inherited_fd(native_handle_type fd, const channel_options& options) {
  std::error_code ec;
  channel c = from_inherited_fd(fd, options, ec);
  detail::throw_if(ec, "channel from inherited descriptor " + detail::handle_to_text(fd));
  return c;
}

channel channel::from_inherited_fd(native_handle_type fd, const channel_options& options,
                                   std::error_code& ec) noexcept {
  ec.clear();
  const detail::handle_access access = detail::adopt_inherited_handle(fd, ec);
  if (ec) return {};
  try {
    // A pipe's end (or a FIFO opened one way) gives a one-way channel, as
    // Python's Connection(fd, readable=..., writable=...) would be told.
    switch (access) {
      case detail::handle_access::read: return {std::make_unique<handle_stream>(handle(fd)), nullptr, options};
      case detail::handle_access::write: return {nullptr, std::make_unique<handle_stream>(handle(fd)), options};
      case detail::handle_access::read_write: break;
    }
    return channel(handle_stream(handle(fd)), options);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

channel channel::from_environment(const char* variable, const channel_options& options) {
  std::error_code ec;
  channel c = from_environment(variable, options, ec);
  detail::throw_if(ec, std::string("channel from environment variable ") + (variable ? variable : "(null)"));
  return c;
}

channel channel::from_environment(const char* variable, const channel_options& options, std::error_code& ec) noexcept {
  ec.clear();
  const char* value = variable != nullptr ? std::getenv(variable) : nullptr;
  native_handle_type h = invalid_native_handle;
  if (value == nullptr || !detail::handle_from_text(value, h)) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  return from_inherited_fd(h, options, ec);
}

void channel::send(std::span<const std::byte> message) {
  std::error_code ec;
  send(message, no_deadline, ec);
  detail::throw_if(ec, "channel send");
}

void channel::send(std::string_view message) { send(as_bytes(message)); }

void channel::send(std::span<const std::byte> message, deadline until) {
  std::error_code ec;
  send(message, until, ec);
  detail::throw_if(ec, "channel send");
}

void channel::send(std::string_view message, deadline until) { send(as_bytes(message), until); }

void channel::send(std::span<const std::byte> message, deadline until, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return;
  }
  (void)core_->send_frames(
      1, [message](std::size_t) { return message; }, until, ec);
}

void channel::send(std::string_view message, deadline until, std::error_code& ec) noexcept {
  send(as_bytes(message), until, ec);
}

std::size_t channel::send_batch(std::span<const std::span<const std::byte>> messages) {
  std::error_code ec;
  const std::size_t n = send_batch(messages, no_deadline, ec);
  detail::throw_if(ec, "channel send_batch");
  return n;
}

std::size_t channel::send_batch(std::span<const std::string_view> messages) {
  std::error_code ec;
  const std::size_t n = send_batch(messages, no_deadline, ec);
  detail::throw_if(ec, "channel send_batch");
  return n;
}

std::size_t channel::send_batch(std::span<const std::span<const std::byte>> messages, deadline until,
                                std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return 0;
  }
  if (messages.empty()) {
    ec.clear();
    return 0;
  }
  return core_->send_frames(
      messages.size(), [messages](std::size_t i) { return messages[i]; }, until, ec);
}

std::size_t channel::send_batch(std::span<const std::string_view> messages, deadline until,
                                std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return 0;
  }
  if (messages.empty()) {
    ec.clear();
    return 0;
  }
  return core_->send_frames(
      messages.size(), [messages](std::size_t i) { return as_bytes(messages[i]); }, until, ec);
}

void channel::post(std::span<const std::byte> message) {
  std::error_code ec;
  post(message, ec);
  detail::throw_if(ec, "channel post");
}

void channel::post(std::string_view message) { post(as_bytes(message)); }

void channel::post(std::span<const std::byte> message, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return;
  }
  core_->post(message, ec);
}

void channel::post(std::string_view message, std::error_code& ec) noexcept { post(as_bytes(message), ec); }

bool channel::flush(deadline until) {
  std::error_code ec;
  const bool done = flush(until, ec);
  detail::throw_if(ec, "channel flush");
  return done;
}

bool channel::flush(deadline until, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return false;
  }
  return core_->flush(until, ec);
}

std::size_t channel::pending_outgoing() const noexcept { return core_ ? core_->pending_outgoing() : 0; }

bool channel::recv(std::string& out) {
  std::error_code ec;
  const bool got = recv(out, no_deadline, ec);
  detail::throw_if(ec, "channel recv");
  return got;
}

bool channel::recv(std::string& out, deadline until) {
  std::error_code ec;
  const bool got = recv(out, until, ec);
  detail::throw_if(ec, "channel recv");
  return got;
}

bool channel::recv(std::string& out, deadline until, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return false;
  }
  return core_->recv(out, until, ec);
}

std::optional<std::string> channel::recv() {
  std::string out;
  if (!recv(out)) return std::nullopt;
  return out;
}

void channel::close_send() {
  std::error_code ec;
  close_send(ec);
  detail::throw_if(ec, "channel close_send");
}

void channel::close_send(std::error_code& ec) noexcept {
  if (!core_) {
    ec.clear();
    return;
  }
  core_->close_send(ec);
}

void channel::close() {
  std::error_code ec;
  close(ec);
  detail::throw_if(ec, "channel close");
}

void channel::close(std::error_code& ec) noexcept {
  ec.clear();
  if (core_) core_->close(ec);
}

bool channel::is_open() const noexcept { return core_ && core_->is_open(); }
bool channel::can_send() const noexcept { return core_ && core_->can_send(); }
bool channel::can_recv() const noexcept { return core_ && core_->can_recv(); }
stream* channel::reader() noexcept { return core_ ? core_->reader() : nullptr; }
stream* channel::writer() noexcept { return core_ ? core_->writer() : nullptr; }
native_handle_type channel::read_handle() const noexcept {
  return core_ ? core_->read_handle() : invalid_native_handle;
}
native_handle_type channel::write_handle() const noexcept {
  return core_ ? core_->write_handle() : invalid_native_handle;
}
poll_source* channel::event_source() noexcept { return core_.get(); }
native_handle_type channel::native_handle() const noexcept {
  const native_handle_type r = read_handle();
  const native_handle_type w = write_handle();
  if (r == invalid_native_handle) return w;
  if (w == invalid_native_handle || w == r) return r;
  return invalid_native_handle;
}
std::size_t channel::buffered_incoming() const noexcept { return core_ ? core_->buffered_incoming() : 0; }

const channel_options& channel::options() const noexcept {
  static const channel_options defaults{};
  return core_ ? core_->options() : defaults;
}

command& pass_channel(command& cmd, const channel& end, int child_fd, const char* variable) {
  const native_handle_type h = end.native_handle();
  if (h == invalid_native_handle)
    throw std::invalid_argument("pass_channel: the channel has no single handle (closed, or two one-way handles)");
  if (variable == nullptr || *variable == '\0') throw std::invalid_argument("pass_channel: no variable name");
  return cmd.pass_handle(h, child_fd).env(variable, detail::passed_handle_text(h, child_fd));
}

channel_ends channel_pair(bool duplex, const channel_options& options) {
  std::error_code ec;
  channel_ends ends = channel_pair(duplex, options, ec);
  detail::throw_if(ec, duplex ? "channel_pair (socketpair)" : "channel_pair (pipe)");
  return ends;
}

channel_ends channel_pair(bool duplex, const channel_options& options, std::error_code& ec) noexcept {
  ec.clear();
  try {
    if (duplex) {
      handle a;
      handle b;
      detail::make_duplex_pair(a, b, ec);
      if (ec) return {};
      return {channel(handle_stream(std::move(a)), options), channel(handle_stream(std::move(b)), options)};
    }
    pipe_pair p = make_pipe(pipe_options{}, ec);
    if (ec) return {};
    return {channel(std::make_unique<handle_stream>(std::move(p.read_end)), nullptr, options),
            channel(nullptr, std::make_unique<handle_stream>(std::move(p.write_end)), options)};
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

}  // namespace pipekit
