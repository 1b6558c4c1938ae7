// Internal: the object behind a channel. Its members live in four files by
// concern: src/channel_core.cpp (construction, closing, the event source),
// src/channel_send.cpp (the send path and the outgoing queue),
// src/channel_recv.cpp (the receive path and its buffer) and the wire format
// in src/sys/channel_wire.hpp. src/channel.cpp is the public face.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"
#include "pipekit/poller.hpp"
#include "sys/channel_io.hpp"
#include "sys/io.hpp"

namespace pipekit::detail {

// The messages one send takes, whichever form the caller holds them in.
struct message_list {
  std::span<const std::span<const std::byte>> bytes;
  std::span<const std::string_view> texts;
  [[nodiscard]] std::size_t size() const noexcept { return texts.empty() ? bytes.size() : texts.size(); }
  std::span<const std::byte> operator()(std::size_t i) const noexcept {
    return texts.empty() ? bytes[i] : std::as_bytes(std::span(texts[i]));
  }
};

class channel_core final : public poll_source {
 public:
  channel_core(std::unique_ptr<stream> first, std::unique_ptr<stream> second, bool duplex,
               const channel_options& options);

  // ---- sending ----------------------------------------------------------

  // Sends messages as frames. Returns how many went out whole.
  std::size_t send_frames(std::size_t count, const message_list& get, deadline until, std::error_code& ec) noexcept;

  void close_send(std::error_code& ec) noexcept;

  // ---- receiving --------------------------------------------------------

  bool recv(std::string& out, deadline until, std::error_code& ec) noexcept;

  // ---- as an event source (poller::add(*ch.event_source(), ...)) ----------

  std::size_t watches(events interest, std::span<watch> out) noexcept override;

  // A whole message (or the end, or an error) waits in the receive buffer,
  // where the read handle cannot say so: a blocked send() took it in.
  events ready_now(events interest) noexcept override;

  events dispatch(events, std::span<const events> reported) noexcept override;

  // ---- both -------------------------------------------------------------

  void close(std::error_code& ec) noexcept;

  // ---- the outgoing queue -------------------------------------------------

  void post(std::span<const std::byte> m, std::error_code& ec) noexcept;

  bool flush(deadline until, std::error_code& ec) noexcept;

  std::size_t pending_outgoing() const noexcept { return out_pending_.load(std::memory_order_relaxed); }

  std::size_t buffered_incoming() const noexcept { return rx_buffered_.load(std::memory_order_relaxed); }
  bool is_open() const noexcept;
  bool can_send() const noexcept;
  bool can_recv() const noexcept;
  stream* reader() const noexcept { return reader_; }
  stream* writer() const noexcept { return writer_; }
  native_handle_type read_handle() const noexcept;
  native_handle_type write_handle() const noexcept;
  const channel_options& options() const noexcept { return options_; }

 private:
  // ---- send side (send_mutex_ held) --------------------------------------

  bool check_send(std::error_code& ec) noexcept;

  // A fatal receive error happened while a send was in progress: the sender
  // releases the handles (it holds the send side; receivers leave at once).
  void finish_fatal_close() noexcept;

  std::size_t queued() const noexcept { return out_.size() - out_head_; }

  // Writes the outgoing queue until it is empty (true), `until` passes or an
  // error (false).
  bool flush_locked(deadline until, std::error_code& ec) noexcept;

  // Writes `pieces` (advanced in place) until they are out, `until` passes
  // (timed_out) or an error; returns the bytes written.
  std::size_t write_now(std::span<std::span<const std::byte>> pieces, deadline until, std::error_code& ec) noexcept;

  bool prepare_native_writer(std::error_code& ec) noexcept;

  // Frames go out through gather writes: [header, payload, header, ...].
  std::size_t send_native(std::size_t count, const message_list& get, deadline until, std::error_code& ec);

  // What a send that cannot go on does meanwhile: take in what the peer
  // sends (so the peer's own send can finish and it starts reading ours).
  class waiter;

  // For writers that are not OS handles: the stream's own blocking writes,
  // header and small payload joined so that the frame is one write.
  std::size_t send_generic(std::size_t count, const message_list& get, deadline until, std::error_code& ec);

  // ---- receive side (recv_mutex_ held) ------------------------------------

  std::size_t rx_size() const noexcept { return rx_end_ - rx_begin_; }
  const std::byte* rx_data() const noexcept { return rx_ ? rx_.get() + rx_begin_ : nullptr; }
  void rx_consume(std::size_t n) noexcept;
  void rx_produced(std::size_t n) noexcept;

  // Free space at the tail of the receive buffer: at least `want` bytes if
  // the bound allows (compacting, then growing), else what there is.
  std::span<std::byte> rx_tail(std::size_t want);

  // Gives back a receive buffer a blocked send() enlarged, once it is empty.
  void rx_shrink_if_idle() noexcept;

  bool can_drain_locked() const noexcept;

  // One read that cannot block, into the receive buffer (up to the bound).
  void drain_once_locked() noexcept;

  // Whether recv() would return at once with what is buffered: a whole
  // frame, the rest of the message in progress, or the end or an error
  // found by a blocked send(). Kept for ready_now(), which any thread asks.
  void note_ready_locked() noexcept;

  // Reads more into the receive buffer. 0: end of stream.
  std::size_t rx_fill(deadline until, std::error_code& ec);

  // Makes sure `n` bytes are buffered. false: error, or end of stream
  // (`eof` set) before they came.
  bool rx_need(std::size_t n, deadline until, bool& eof, std::error_code& ec);

  bool fail_locked(errc e, std::error_code& ec) noexcept;

  bool recv_locked(std::string& out, deadline until, std::error_code& ec);

  // ---- both sides (both mutexes held) -------------------------------------

  void release_locked(std::error_code& ec) noexcept;

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

}  // namespace pipekit::detail
