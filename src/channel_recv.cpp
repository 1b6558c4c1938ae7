// The receive path of a channel: the receive buffer (which a blocked send()
// also fills), reading straight into a large message at its announced size,
// and the bounds that keep a hostile peer from making us allocate what it
// announces.
#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "channel_core.hpp"
#include "sys/channel_wire.hpp"
#include "sys/large_buffer.hpp"

namespace pipekit::detail {

namespace {

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;

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

}  // namespace

bool channel_core::recv(std::string& out, deadline until, std::error_code& ec) noexcept {
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

void channel_core::rx_consume(std::size_t n) noexcept {
  rx_begin_ += n;
  if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
  rx_buffered_.store(rx_size(), std::memory_order_relaxed);
}

void channel_core::rx_produced(std::size_t n) noexcept {
  rx_end_ += n;
  rx_buffered_.store(rx_size(), std::memory_order_relaxed);
}

// Free space at the tail of the receive buffer: at least `want` bytes if
// the bound allows (compacting, then growing), else what there is.
std::span<std::byte> channel_core::rx_tail(std::size_t want) {
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
void channel_core::rx_shrink_if_idle() noexcept {
  if (rx_capacity_ > rx_default_capacity && rx_size() == 0) {
    rx_.reset();
    rx_capacity_ = 0;
    rx_begin_ = rx_end_ = 0;
  }
}

bool channel_core::can_drain_locked() const noexcept {
  return !released_.load(std::memory_order_relaxed) && fatal_.load(std::memory_order_relaxed) == 0 && !rx_eof_ &&
         !rx_error_ && rx_size() < options_.max_buffered_incoming;
}

// One read that cannot block, into the receive buffer (up to the bound).
void channel_core::drain_once_locked() noexcept {
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
void channel_core::note_ready_locked() noexcept {
  bool ready = rx_eof_ || static_cast<bool>(rx_error_);
  if (!ready && rx_in_message_) {
    ready = rx_size() >= rx_size_ - rx_got_;
  } else if (!ready) {
    std::size_t header = 0;
    std::uint64_t length = 0;
    switch (wire::decode_header(rx_data(), rx_size(), header, length)) {
      case wire::header_status::need_more: break;
      case wire::header_status::bad: ready = true; break;  // recv() reports it at once
      case wire::header_status::complete:
        ready = length > options_.max_message_size || rx_size() - header >= length;
        break;
    }
  }
  rx_ready_.store(ready, std::memory_order_release);
}

// Reads more into the receive buffer. 0: end of stream.
std::size_t channel_core::rx_fill(deadline until, std::error_code& ec) {
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
bool channel_core::rx_need(std::size_t n, deadline until, bool& eof, std::error_code& ec) {
  eof = false;
  while (rx_size() < n) {
    if (rx_fill(until, ec) == 0) {
      if (!ec) eof = true;
      return false;
    }
  }
  return true;
}

bool channel_core::fail_locked(errc e, std::error_code& ec) noexcept {
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

bool channel_core::recv_locked(std::string& out, deadline until, std::error_code& ec) {
  bool eof = false;
  if (!rx_in_message_) {
    std::size_t header = 0;
    std::uint64_t size = 0;
    wire::header_status status;
    while ((status = wire::decode_header(rx_data(), rx_size(), header, size)) == wire::header_status::need_more) {
      if (!rx_need(rx_size() < 4 ? 4 : 12, until, eof, ec)) {
        if (!eof) return false;
        if (rx_size() == 0) return false;              // the clean end: between messages
        return fail_locked(errc::protocol_error, ec);  // header cut off
      }
    }
    if (status == wire::header_status::bad) return fail_locked(errc::protocol_error, ec);
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

}  // namespace pipekit::detail
