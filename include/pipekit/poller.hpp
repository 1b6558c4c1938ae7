// poller: waits for readiness on many handles at once, with a deadline, and
// can be woken from another thread. Level-triggered: a handle that stays
// readable is reported again on every wait().
//
//   pipekit::poller p;
//   p.add(r.native_handle(), pipekit::events::readable, /*token=*/1);
//   pipekit::poll_event ev[8];
//   std::size_t n = p.wait(ev, pipekit::after(std::chrono::seconds(1)));
//
// Backends: epoll on Linux, poll() on other POSIX systems (also selectable on
// Linux for tests), an I/O completion port on Windows. On Windows a pipe has
// no write readiness: registered for writable it is always reported
// writable (write_some() with a deadline never blocks past it); pipes opened
// for synchronous I/O and message-mode pipes are checked with PeekNamedPipe
// every few milliseconds; process handles (process::native_handle()) and
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
#include "pipekit/events.hpp"
#include "pipekit/export.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit {

struct poll_event {
  std::uint64_t token = 0;
  events what = events::none;
};

enum class poller_backend { automatic, epoll, poll, iocp };

class stream;

// poll_source: something a poller can wait on that is not one OS handle: a
// libusb context (its descriptors come and go with its transfers, and it has
// timeouts of its own; usbfs nodes cannot join epoll), a Redis connection
// (replies already parsed and buffered in user space), a channel (whole
// messages already in its receive buffer). Registered with
// poller::add(source, interest, token), it is reported under its token with
// the events it makes of what happened on the handles it names.
//
// The poller calls these from wait(), on the thread that called wait():
//   before every wait:  ready_now(), then watches() (the set may change),
//                       then next_deadline();
//   after it:           dispatch(), when one of its handles reported
//                       something or its deadline passed.
// None of them may block. A source must outlive its registration (remove()
// it first), as a handle must stay open while registered.
class PIPEKIT_EXPORT poll_source {
 public:
  struct watch {
    native_handle_type handle = invalid_native_handle;
    events interest = events::none;
  };

  poll_source() = default;
  poll_source(const poll_source&) = delete;
  poll_source& operator=(const poll_source&) = delete;
  virtual ~poll_source() = default;

  // The handles to wait on for `interest`, written to `out`; returns how
  // many there are. When that is more than out.size(), the poller asks again
  // with room for all of them.
  virtual std::size_t watches(events interest, std::span<watch> out) noexcept = 0;

  // What the source can report without waiting (data it holds already);
  // anything but events::none is reported at once and the wait does not block.
  virtual events ready_now(events /*interest*/) noexcept { return events::none; }

  // When the source must run even if none of its handles reports anything
  // (libusb's next transfer timeout); no_deadline: never.
  [[nodiscard]] virtual deadline next_deadline() const noexcept { return no_deadline; }

  // Does the source's work after a wait: `reported[i]` is what watch i
  // reported (events::none: nothing; all none when only next_deadline()
  // passed). Returns what to report under the source's token: events::none
  // reports nothing (the work was internal) and the poller waits on.
  virtual events dispatch(events interest, std::span<const events> reported) noexcept = 0;
};

namespace detail {
class poller_impl;
struct poll_source_set;
}  // namespace detail

class PIPEKIT_EXPORT poller {
 public:
  explicit poller(poller_backend backend = poller_backend::automatic);
  poller(poller_backend backend, std::error_code& ec) noexcept;
  poller(poller&&) noexcept;
  poller& operator=(poller&&) noexcept;
  ~poller();

  // Registers `h` (not owned) for `interest`, reported with `token`.
  // Tokens with the top bit set are the poller's own (it names the handles
  // of event sources with them): add() and modify() refuse them with
  // std::errc::invalid_argument.
  void add(native_handle_type h, events interest, std::uint64_t token);
  void add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void modify(native_handle_type h, events interest, std::uint64_t token);
  void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void remove(native_handle_type h);
  void remove(native_handle_type h, std::error_code& ec) noexcept;

  // The same for an event source (see poll_source; not owned). Adding one
  // twice is std::errc::file_exists; removing one that is not registered,
  // std::errc::no_such_file_or_directory (as for handles on epoll).
  void add(poll_source& source, events interest, std::uint64_t token);
  void add(poll_source& source, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void modify(poll_source& source, events interest, std::uint64_t token);
  void modify(poll_source& source, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void remove(poll_source& source);
  void remove(poll_source& source, std::error_code& ec) noexcept;

  // For a stream: its event_source() if it has one, else its native_handle()
  // (errc::not_supported when it has neither).
  void add(stream& s, events interest, std::uint64_t token);
  void add(stream& s, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void modify(stream& s, events interest, std::uint64_t token);
  void modify(stream& s, events interest, std::uint64_t token, std::error_code& ec) noexcept;
  void remove(stream& s);
  void remove(stream& s, std::error_code& ec) noexcept;

  // Waits until at least one handle is ready, wake() is called, or `until`
  // passes. Fills `out` and returns how many entries it filled: 0 means timed
  // out or woken. EINTR is retried with the remaining time.
  [[nodiscard]] std::size_t wait(std::span<poll_event> out, deadline until = no_deadline);
  [[nodiscard]] std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept;

  // Makes a concurrent or the next wait() return. Safe from any thread.
  void wake() noexcept;

  [[nodiscard]] poller_backend backend() const noexcept;
  // Registered handles and event sources.
  [[nodiscard]] std::size_t size() const noexcept;

 private:
  std::unique_ptr<detail::poller_impl> impl_;
  std::unique_ptr<detail::poll_source_set> sources_;  // null until the first add(poll_source&)
};

}  // namespace pipekit
