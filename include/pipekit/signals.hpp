// signal_relay: signals as events a poller can wait on (the self-pipe
// trick), for a program that supervises children and must pass Ctrl-C or
// SIGTERM on to them instead of dying first.
//
//   pipekit::signal_relay relay(std::array{SIGINT, SIGTERM});   // opt-in, for as long as it lives
//   poll.add(relay.native_handle(), pipekit::events::readable, tok_signal);
//   ... on tok_signal:
//   for (int sig : relay.take()) child.signal_group(sig);       // forward them to the child's group
//
// pipekit installs no handler by itself; this object is the only place it
// does, and only while it exists. While it exists, the listed signals no
// longer take their previous action in this process (default, ignore, or
// another handler): each delivery is noted, native_handle() becomes readable,
// and take() returns what arrived. The destructor puts the previous
// dispositions back. At most one relay exists at a time in a process (the
// handler writes to one process-wide place).
//
// POSIX: any signal sigaction() accepts (not SIGKILL or SIGSTOP); handlers
// are installed with SA_RESTART. native_handle() is the read end of a pipe.
// Windows: console control events (SetConsoleCtrlHandler), reported with the
// numbers below: Ctrl-C as signal_interrupt, Ctrl-Break as signal_break, the
// console closing, logoff and shutdown as signal_hangup. The events a relay
// takes are handled (the process is not ended); the others go to the next
// handler. native_handle() is an event, signalled while something is untaken.
// (Wine cannot deliver console events to a program without a console.)
//
// Thread safety: signals may arrive on any thread. take() from one thread at
// a time.
#pragma once

#include <memory>
#include <span>
#include <system_error>
#include <vector>

#include "pipekit/export.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit {

// Numbers a relay reports for Windows' console control events (POSIX's
// numbers for the same intent; 21 is SIGBREAK in Windows' C runtime).
inline constexpr int signal_hangup = 1;     // the console closed, the user logged off, shutdown
inline constexpr int signal_interrupt = 2;  // Ctrl-C
inline constexpr int signal_break = 21;     // Windows: Ctrl-Break

namespace detail {
struct signal_relay_state;
struct signal_relay_state_deleter {  // used only inside the library (the destructor is there)
  void operator()(signal_relay_state* s) const noexcept;
};
}  // namespace detail

class PIPEKIT_EXPORT signal_relay {
 public:
  // Starts catching `signals`. Errors: another relay exists
  // (errc::invalid_argument); a signal that cannot be caught (sigaction's
  // EINVAL; Windows: a number other than the three above,
  // errc::not_supported); no pipe or event could be made. Nothing is
  // changed then, and active() is false.
  explicit signal_relay(std::span<const int> signals);
  signal_relay(std::span<const int> signals, std::error_code& ec) noexcept;
  signal_relay(const signal_relay&) = delete;
  signal_relay& operator=(const signal_relay&) = delete;
  ~signal_relay();

  [[nodiscard]] bool active() const noexcept { return state_ != nullptr; }

  // Readable (POSIX) or signalled (Windows) when a signal arrived and was
  // not taken yet; invalid_native_handle when not active.
  [[nodiscard]] native_handle_type native_handle() const noexcept;

  // The signals that arrived since the last call, oldest first (repeats of
  // one signal may merge, as they do in the kernel; Windows: each kind once,
  // in number order). Empty when none did; never blocks.
  [[nodiscard]] std::vector<int> take();

 private:
  void start(std::span<const int> signals, std::error_code& ec) noexcept;  // per OS

  std::unique_ptr<detail::signal_relay_state, detail::signal_relay_state_deleter> state_;
};

}  // namespace pipekit
