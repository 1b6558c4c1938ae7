// stream: the byte-stream interface every pipekit pipe implements — OS pipes,
// FIFOs, sockets, process stdio, pseudo-terminals, and later serial ports and
// USB endpoints. Channels and topologies are written against this interface,
// so they run over any of them.
//
// Reads return what is available (at least one byte) or 0 at end of stream.
// A stream in non-blocking mode reports std::errc::operation_would_block
// instead of waiting. The forms that take a deadline wait for readiness first
// and report std::errc::timed_out when the deadline passes; they work on
// blocking and non-blocking streams alike.
//
// Thread-safety: one reader thread and one writer thread may use a stream at
// once (e.g. the two ends of a duplex stream); close() must not race with them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/events.hpp"
#include "pipekit/export.hpp"
#include "pipekit/handle.hpp"

namespace pipekit {

namespace detail {
struct stream_access;
}

class poll_source;

// What a stream can do besides reading and writing, for code that takes a
// faster path when the stream allows it (channels write frames with one
// gather write; a relay waits on the handle with a poller).
enum class stream_caps : unsigned {
  none = 0,
  // native_handle() is an OS handle a poller can wait on (poller::add).
  native_handle = 1u << 0,
  // Writing to native_handle() directly, several buffers per system call
  // (writev, or one overlapped write per buffer on Windows), is writing to
  // the stream: the stream keeps nothing of its own in between.
  gather_write = 1u << 1,
  // set_nonblocking() switches the stream's mode.
  nonblocking = 1u << 2,
  // Readiness comes from event_source(), not from one OS handle (a libusb
  // context, a Redis connection, data the stream buffers itself).
  event_source = 1u << 3,
};
constexpr stream_caps operator|(stream_caps a, stream_caps b) noexcept {
  return static_cast<stream_caps>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr stream_caps operator&(stream_caps a, stream_caps b) noexcept {
  return static_cast<stream_caps>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr bool any(stream_caps c) noexcept { return c != stream_caps::none; }

class PIPEKIT_EXPORT stream {
 public:
  stream() = default;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  virtual ~stream() = default;

  [[nodiscard]] std::size_t read_some(std::span<std::byte> buf);
  [[nodiscard]] std::size_t read_some(std::span<std::byte> buf, std::error_code& ec) noexcept;
  [[nodiscard]] std::size_t read_some(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept;

  [[nodiscard]] std::size_t write_some(std::span<const std::byte> data);
  [[nodiscard]] std::size_t write_some(std::span<const std::byte> data, std::error_code& ec) noexcept;
  [[nodiscard]] std::size_t write_some(std::span<const std::byte> data, deadline until, std::error_code& ec) noexcept;

  // Writes every byte, retrying partial writes. On error, the return value
  // says how much went out, so nothing is lost without the caller knowing.
  std::size_t write_all(std::span<const std::byte> data);
  std::size_t write_all(std::span<const std::byte> data, std::error_code& ec) noexcept;
  std::size_t write_all(std::span<const std::byte> data, deadline until, std::error_code& ec) noexcept;
  std::size_t write_all(std::string_view text) { return write_all(std::as_bytes(std::span(text))); }
  std::size_t write_all(std::string_view text, std::error_code& ec) noexcept {
    return write_all(std::as_bytes(std::span(text)), ec);
  }

  // Fills the whole buffer; errc::end_of_file if the stream ends first.
  // Returns how many bytes arrived either way.
  std::size_t read_exact(std::span<std::byte> buf);
  std::size_t read_exact(std::span<std::byte> buf, std::error_code& ec) noexcept;
  std::size_t read_exact(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept;

  // Reads until end of stream.
  [[nodiscard]] std::string read_to_end();
  [[nodiscard]] std::string read_to_end(std::error_code& ec);
  [[nodiscard]] std::string read_to_end(deadline until, std::error_code& ec);

  // Waits until the stream is ready for `what` (events::readable,
  // events::writable, or both: then for either). Returns false on timeout.
  [[nodiscard]] bool wait(events what, deadline until);
  [[nodiscard]] bool wait(events what, deadline until, std::error_code& ec) noexcept;

  void close();
  void close(std::error_code& ec) noexcept;

  // Switches the stream between blocking and non-blocking mode (reads and
  // writes then report std::errc::operation_would_block instead of
  // waiting). errc::not_supported unless capabilities() has
  // stream_caps::nonblocking.
  void set_nonblocking(bool on);
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  [[nodiscard]] bool nonblocking() const noexcept { return !blocking_io(); }

  // What this stream can do (see stream_caps). The default: a native handle
  // if native_handle() names one, nothing else.
  [[nodiscard]] virtual stream_caps capabilities() const noexcept;
  // The OS handle under the stream, or invalid_native_handle when it has
  // none (a USB endpoint). Owned by the stream: do not close it.
  [[nodiscard]] virtual native_handle_type native_handle() const noexcept { return invalid_native_handle; }
  // The event source a poller waits on for this stream when it has no
  // single OS handle (stream_caps::event_source), else nullptr. Owned by the
  // stream; poller::add(stream&, ...) uses it.
  [[nodiscard]] virtual poll_source* event_source() noexcept { return nullptr; }

 protected:
  virtual std::size_t do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept = 0;
  virtual std::size_t do_write_some(std::span<const std::byte> data, std::error_code& ec) noexcept = 0;
  virtual bool do_wait(events what, deadline until, std::error_code& ec) noexcept = 0;
  virtual void do_close(std::error_code& ec) noexcept = 0;
  // The largest write that cannot block once do_wait() reported the stream
  // writable; write_some() with a deadline stays under it on blocking streams.
  [[nodiscard]] virtual std::size_t nonblocking_write_limit() const noexcept = 0;
  // True when a read or write may block; deadline forms then wait for
  // readiness before each call instead of after a would-block.
  [[nodiscard]] virtual bool blocking_io() const noexcept = 0;
  // The default refuses: errc::not_supported.
  virtual void do_set_nonblocking(bool on, std::error_code& ec) noexcept;
  // One read / write with a deadline (a write never gets no_deadline). The
  // defaults wait for readiness with do_wait() and then read or write; a
  // stream whose system cannot say when a write would not block (Windows
  // pipes) overrides them to start the operation and cancel it at the
  // deadline instead.
  virtual std::size_t do_read_some_until(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept;
  virtual std::size_t do_write_some_until(std::span<const std::byte> data, deadline until,
                                          std::error_code& ec) noexcept;
};

// handle_stream: a stream over one OS handle (pipe end, FIFO, socket, tty,
// file). It owns the handle.
class PIPEKIT_EXPORT handle_stream final : public stream {
 public:
  handle_stream() noexcept = default;
  explicit handle_stream(handle h) noexcept;
  handle_stream(handle_stream&& other) noexcept;
  handle_stream& operator=(handle_stream&& other) noexcept;
  ~handle_stream() override;

  [[nodiscard]] bool is_open() const noexcept { return h_.is_open(); }
  [[nodiscard]] native_handle_type native_handle() const noexcept override { return h_.native_handle(); }
  [[nodiscard]] handle release_handle() noexcept;
  // native_handle, gather_write and (POSIX: O_NONBLOCK; Windows: the
  // deadline forms) nonblocking, while open.
  [[nodiscard]] stream_caps capabilities() const noexcept override;

 protected:
  std::size_t do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept override;
  std::size_t do_write_some(std::span<const std::byte> data, std::error_code& ec) noexcept override;
  bool do_wait(events what, deadline until, std::error_code& ec) noexcept override;
  void do_close(std::error_code& ec) noexcept override;
  [[nodiscard]] std::size_t nonblocking_write_limit() const noexcept override;
  [[nodiscard]] bool blocking_io() const noexcept override { return !nonblocking_; }
  void do_set_nonblocking(bool on, std::error_code& ec) noexcept override;
  std::size_t do_read_some_until(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept override;
  std::size_t do_write_some_until(std::span<const std::byte> data, deadline until,
                                  std::error_code& ec) noexcept override;

 private:
  handle h_;
  bool nonblocking_ = false;
  std::uint8_t kind_ = 0;  // detail::handle_kind, decided once: selects the I/O path
  // Bytes of pipekit's process-wide budget for enlarged pipes this end holds
  // (see default_pipe_capacity in pipe.hpp); given back when it closes.
  std::size_t pipe_budget_ = 0;
  void give_back_budget() noexcept;
  friend struct detail::stream_access;
};

}  // namespace pipekit
