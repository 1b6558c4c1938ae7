// Terminals: what a program that runs other programs on its terminal needs
// (`pipekit run` is one): the window size, raw mode, lending the terminal to
// a child's process group as a shell lends it to its foreground job, and
// noticing that such a child was stopped.
//
//   pipekit::terminal_mode raw(tty, pipekit::terminal_setting::raw);   // until `raw` goes away
//   pipekit::terminal_size size = pipekit::window_size(tty);
//
//   pipekit::terminal_lease lease(tty);          // our terminal, if we are its foreground job
//   if (lease.possible()) cmd.foreground();      // the child takes it before it starts
//   pipekit::process p = cmd.spawn();
//   lease.give_to(p);
//   ... if (pipekit::has_stopped(p)) lease.follow_stop(p); ...
//   lease.take_back(pipekit::terminal_modes::restore);   // it was killed: it may have left raw mode on
//
// Nothing here changes a signal disposition. terminal_lease blocks SIGTTOU
// on the calling thread while it exists (see there).
//
// Windows: a console is the terminal. window_size() is the console window;
// terminal_mode switches a console input handle to VT keys (raw) or a
// console output handle to VT processing; a console has no foreground
// process group, so a lease is never possible and has_stopped() is false.
//
// Thread safety: distinct objects may be used from distinct threads; one
// object from one thread at a time (a lease from the thread that made it).
#pragma once

#include <system_error>

#include "pipekit/export.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit {

class process;

struct terminal_size {
  unsigned short rows = 24;
  unsigned short columns = 80;
};

// Whether `h` is a terminal (POSIX: isatty; Windows: a console handle).
[[nodiscard]] PIPEKIT_EXPORT bool is_terminal(native_handle_type h) noexcept;

// The window size of terminal `h`. Errors: not a terminal
// (std::errc::inappropriate_io_control_operation, ENOTTY; Windows: the
// GetConsoleScreenBufferInfo error, which also means "not a console output
// handle"). A terminal that was never given a size (a new pty) reports 0
// rows and 0 columns: callers treat that as unknown.
[[nodiscard]] PIPEKIT_EXPORT terminal_size window_size(native_handle_type tty);
[[nodiscard]] PIPEKIT_EXPORT terminal_size window_size(native_handle_type tty, std::error_code& ec) noexcept;

enum class terminal_setting {
  // POSIX: cfmakeraw(): no line editing, echo or signal keys, bytes pass as
  // typed (Ctrl-C is a 0x03 byte). Windows, on a console input handle: VT
  // input (keys arrive as a terminal sends them), no line input, echo or
  // Ctrl-C processing.
  raw,
  // Windows, on a console output handle: VT escape sequences are
  // interpreted (ENABLE_VIRTUAL_TERMINAL_PROCESSING). POSIX terminals always
  // do that: nothing changes there (active() is false, no error).
  vt_output,
};

namespace detail {
// The saved modes of one terminal (a struct termios; a console mode).
struct saved_terminal_modes {
  alignas(8) unsigned char bytes[128];
};
}  // namespace detail

// Puts one setting on a terminal and the previous modes back when destroyed
// (or at restore()). Errors of the constructors: not a terminal
// (std::errc::inappropriate_io_control_operation on POSIX; Windows: the
// GetConsoleMode error), or the error setting the modes; nothing changed then
// and active() is false.
class PIPEKIT_EXPORT terminal_mode {
 public:
  terminal_mode() noexcept = default;  // changes nothing
  terminal_mode(native_handle_type tty, terminal_setting setting);
  terminal_mode(native_handle_type tty, terminal_setting setting, std::error_code& ec) noexcept;
  terminal_mode(terminal_mode&& other) noexcept;
  terminal_mode& operator=(terminal_mode&& other) noexcept;
  terminal_mode(const terminal_mode&) = delete;
  terminal_mode& operator=(const terminal_mode&) = delete;
  ~terminal_mode();

  // Whether modes were changed and will be put back.
  [[nodiscard]] bool active() const noexcept { return tty_ != invalid_native_handle; }
  // Puts the saved modes back now (POSIX: once pending output is written,
  // TCSADRAIN). A terminal gone in the meantime is no error.
  void restore() noexcept;

 private:
  native_handle_type tty_ = invalid_native_handle;
  detail::saved_terminal_modes saved_{};
};

// What take_back() does with the terminal's modes.
enum class terminal_modes {
  keep,     // the child's changes stay (a command that exited: think `stty -echo`)
  restore,  // the modes from before the lease (a child killed or stopped may have left raw mode on)
};

// Lends the controlling terminal `tty` to a child's process group while it
// runs, as a shell does for its foreground job: without it, a child in its
// own group (pipekit's default) that reads the terminal is stopped by
// SIGTTIN, and Ctrl-C/Ctrl-Z would not reach it from the terminal.
//
// Possible only when `tty` is a terminal and this process's group is its
// foreground group (we are the foreground job); otherwise every call does
// nothing. While it is possible, SIGTTOU is blocked on the calling thread
// (taking the terminal back from the background would raise it), and
// unblocked again by the destructor unless it was blocked before. A child
// starts with an empty signal mask, so it does not inherit this.
//
// Use it from one thread, the one that made it. Not movable: it owns part of
// that thread's signal mask.
class PIPEKIT_EXPORT terminal_lease {
 public:
  terminal_lease() noexcept = default;  // lends nothing
  explicit terminal_lease(native_handle_type tty) noexcept;
  terminal_lease(const terminal_lease&) = delete;
  terminal_lease& operator=(const terminal_lease&) = delete;
  ~terminal_lease();  // take_back(terminal_modes::keep), then the signal mask as it was

  [[nodiscard]] bool possible() const noexcept { return possible_; }
  [[nodiscard]] bool lent() const noexcept { return lent_; }

  // Makes p's process group the terminal's foreground group and continues
  // it (SIGCONT: it may have touched the terminal before it was its own and
  // been stopped for that). Already its own (command::foreground()): only
  // noted. Does nothing when not possible or when we are no longer the
  // foreground group (we were put in the background). Errors: p leads no
  // group of its own (errc::invalid_argument), tcsetpgrp's.
  void give_to(process& p);
  void give_to(process& p, std::error_code& ec) noexcept;

  // Takes the terminal back for this process's group, if lent. Failures are
  // ignored: the terminal may be gone.
  void take_back(terminal_modes modes) noexcept;

  // For a child that was stopped (Ctrl-Z, or SIGTTIN): takes the terminal
  // back with the old modes and stops this process's own job (SIGTSTP to our
  // group, as the terminal would have done), so that our shell sees a stopped
  // job and takes the terminal; once we are continued (fg or bg), lends it to
  // p again and continues p's group. A job that may not stop (an orphaned
  // process group) goes on at once. Errors: those of give_to().
  void follow_stop(process& p);
  void follow_stop(process& p, std::error_code& ec) noexcept;

 private:
  native_handle_type tty_ = invalid_native_handle;
  bool possible_ = false;
  bool lent_ = false;
  bool unblock_ttou_ = false;  // we blocked SIGTTOU, so we unblock it
  detail::saved_terminal_modes modes_{};
};

// Whether p has stopped (by a signal) since the last report; takes the
// report, as waitid(WSTOPPED) does. pipekit's waits report exits only. False
// when p is not running or on Windows (no stop there).
[[nodiscard]] PIPEKIT_EXPORT bool has_stopped(const process& p) noexcept;

}  // namespace pipekit
