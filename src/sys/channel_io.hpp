// Internal OS-neutral interface for what channels need beyond sys/io.hpp:
// writing a run of frames without blocking past a deadline while taking in
// the peer's data (so that two peers that both send cannot deadlock), duplex
// pairs, half-close, and adopting an inherited handle. One implementation
// per platform (src/posix/channel_posix.cpp, src/windows/channel_windows.cpp).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/handle.hpp"
#include "pipekit/native_handle.hpp"
#include "sys/io.hpp"

namespace pipekit::detail {

// What write_pieces() asks its channel while the writer cannot take more.
class send_waiter {
 public:
  // The handle to watch for the peer's data meanwhile (invalid_native_handle:
  // none now). May shorten `slice`: then it is asked again when that passes.
  virtual native_handle_type drain_handle(deadline& slice) noexcept = 0;
  // drain_handle() became readable: take in what is there, without blocking.
  virtual void drain() noexcept = 0;
  // Asked after every wake-up: an error that ends the send (the receive
  // side of the channel failed meanwhile).
  virtual std::error_code stop() noexcept = 0;

 protected:
  ~send_waiter() = default;
};

// Writes `pieces` to `w` in order, as one stream of bytes, advancing the
// spans in place; gathers several pieces per system call where the system
// can. Returns the bytes written: all of them, or what went out before the
// deadline (ec = timed_out), an error, or waiter.stop(). Never raises
// SIGPIPE and never changes its disposition: a peer that is gone reports
// broken_pipe. On POSIX a writer that is not a socket must be in
// non-blocking mode first (see writer_needs_nonblocking).
std::size_t write_pieces(native_handle_type w, handle_kind kind, std::span<std::span<const std::byte>> pieces,
                         deadline until, send_waiter& waiter, std::error_code& ec) noexcept;

// True when write_pieces() needs the writer switched to non-blocking mode
// (POSIX pipes, FIFOs and ttys: they have no per-call flag).
bool writer_needs_nonblocking(handle_kind kind) noexcept;

// Two connected, non-inheritable duplex handles: a socketpair on POSIX, a
// duplex named pipe on Windows (what multiprocessing.Pipe() uses on each).
void make_duplex_pair(handle& a, handle& b, std::error_code& ec) noexcept;

// True when a duplex handle of this kind can shut down one direction.
bool can_half_close(handle_kind kind) noexcept;

// Shuts down one or both directions of a socket.
void shutdown_socket(native_handle_type h, bool reading, bool writing, std::error_code& ec) noexcept;

// Which directions a handle was opened for (a pipe's read end: read).
enum class handle_access { read, write, read_write };

// Checks that an inherited handle is open, makes it non-inheritable, and
// says which directions it allows.
handle_access adopt_inherited_handle(native_handle_type h, std::error_code& ec) noexcept;

// A handle's number as a child finds it in its environment, and back.
std::string handle_to_text(native_handle_type h);
// What a child that got `h` through command::pass_handle(h, child_fd) finds
// it as: `child_fd` on POSIX, the same handle value on Windows.
std::string passed_handle_text(native_handle_type h, int child_fd);
bool handle_from_text(std::string_view text, native_handle_type& h) noexcept;

}  // namespace pipekit::detail
