// channel_core: construction from the streams' capabilities, closing, and
// the channel as an event source.
#include "channel_core.hpp"

#include <algorithm>
#include <utility>

namespace pipekit::detail {

namespace {

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

channel_core::channel_core(std::unique_ptr<stream> first, std::unique_ptr<stream> second, bool duplex,
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

void channel_core::close(std::error_code& ec) noexcept {
  ec.clear();
  std::scoped_lock lock(send_mutex_, recv_mutex_);
  const bool dropped = queued() > 0;
  release_locked(ec);
  if (!ec && dropped) ec = std::make_error_code(std::errc::operation_canceled);
}

bool channel_core::is_open() const noexcept {
  return !released_.load(std::memory_order_relaxed) && (reader_ != nullptr || writer_ != nullptr);
}

bool channel_core::can_send() const noexcept {
  return !released_.load(std::memory_order_relaxed) && writer_ != nullptr && !send_closed_.load() && fatal_.load() == 0;
}

bool channel_core::can_recv() const noexcept {
  return !released_.load(std::memory_order_relaxed) && reader_ != nullptr && fatal_.load() == 0;
}

native_handle_type channel_core::read_handle() const noexcept {
  return released_.load(std::memory_order_relaxed) ? invalid_native_handle
         : reader_                                 ? reader_->native_handle()
                                                   : invalid_native_handle;
}

native_handle_type channel_core::write_handle() const noexcept {
  return released_.load(std::memory_order_relaxed) ? invalid_native_handle
         : writer_                                 ? writer_->native_handle()
                                                   : invalid_native_handle;
}

std::size_t channel_core::watches(events interest, std::span<watch> out) noexcept {
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
events channel_core::ready_now(events interest) noexcept {
  if (!any(interest & events::readable) || released_.load(std::memory_order_relaxed)) return events::none;
  if (fatal_.load(std::memory_order_acquire) != 0) return events::readable | events::error;
  return rx_ready_.load(std::memory_order_acquire) ? events::readable : events::none;
}

events channel_core::dispatch(events, std::span<const events> reported) noexcept {
  events got = events::none;
  for (const events e : reported) got |= e;
  return got;
}

void channel_core::release_locked(std::error_code& ec) noexcept {
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

}  // namespace pipekit::detail
