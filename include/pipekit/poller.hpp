// poller: waits for readiness on many handles at once, with a deadline, and
// can be woken from another thread. Level-triggered: a handle that stays
// readable is reported again on every wait().
//
//   pipekit::poller p;
//   p.add(r.poll_handle(), pipekit::events::readable, /*token=*/1);
//   pipekit::poll_event ev[8];
//   std::size_t n = p.wait(ev, pipekit::after(std::chrono::seconds(1)));
//
// Backends: epoll on Linux, poll() on other POSIX systems (also selectable on
// Linux for tests), an I/O completion port on Windows. On Windows a pipe has
// no write readiness: registered for writable it is always reported
// writable (write_some() with a deadline never blocks past it); pipes opened
// for synchronous I/O and message-mode pipes are checked with PeekNamedPipe
// every few milliseconds; process handles (process::exit_handle()) and
// other waitable objects are readable once signalled.
//
// End of stream and errors: hangup (the peer closed) and error (an error is
// pending) are reported together with whichever of readable and writable
// the handle was registered for, because the next read returns at once
// (0 at end of stream, or the error) and so does the next write (EPIPE, or
// the error). A loop that reads only when readable therefore sees the end;
// a hangup with data still buffered is readable first, then the end.
//
// Closing: remove() a handle before closing it. The OS reuses descriptor
// numbers, and a poller cannot tell a new file from the old one by number.
// Where it can tell, it refuses: add() of a number whose registered handle
// was closed without remove() fails with errc::stale_registration (epoll:
// always; poll(): by the file's identity, so not for anonymous inodes such
// as eventfds or pidfds; not detected on Windows). remove() of such a
// closed handle succeeds: the registration is forgotten.
//
// Thread-safety: wake() may be called from any thread at any time. The other
// members must not be called concurrently with each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit {

enum class events : unsigned {
  none = 0,
  readable = 1u << 0,
  writable = 1u << 1,
  hangup = 1u << 2,  // reported, never requested: the peer closed
  error = 1u << 3,   // reported, never requested: an error is pending on the handle
};
constexpr events operator|(events a, events b) noexcept {
  return static_cast<events>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr events operator&(events a, events b) noexcept {
  return static_cast<events>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr bool any(events e) noexcept { return e != events::none; }

struct poll_event {
  std::uint64_t token = 0;
  events what = events::none;
};

enum class poller_backend { automatic, epoll, poll, iocp };

namespace detail {
class poller_impl;
}

class PIPEKIT_EXPORT poller {
 public:
  explicit poller(poller_backend backend = poller_backend::automatic);
  poller(poller_backend backend, std::error_code& ec) noexcept;
  poller(poller&&) noexcept;
  poller& operator=(poller&&) noexcept;
  ~poller();

  // Registers `h` (not owned) for `interest`, reported with `token`.
  void add(native_handle_type h, events interest, std::uint64_t token);
  void add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void modify(native_handle_type h, events interest, std::uint64_t token);
  void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void remove(native_handle_type h);
  void remove(native_handle_type h, std::error_code& ec) noexcept;

  // Waits until at least one handle is ready, wake() is called, or `until`
  // passes. Fills `out` and returns how many entries it filled: 0 means timed
  // out or woken. EINTR is retried with the remaining time.
  [[nodiscard]] std::size_t wait(std::span<poll_event> out, deadline until = no_deadline);
  [[nodiscard]] std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept;

  // Makes a concurrent or the next wait() return. Safe from any thread.
  void wake() noexcept;

  [[nodiscard]] poller_backend backend() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;

 private:
  std::unique_ptr<detail::poller_impl> impl_;
};

}  // namespace pipekit
