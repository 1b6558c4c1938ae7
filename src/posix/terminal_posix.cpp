#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pipekit/error.hpp"
#include "pipekit/process.hpp"
#include "pipekit/terminal.hpp"

namespace pipekit {

namespace {

static_assert(sizeof(struct termios) <= sizeof(detail::saved_terminal_modes::bytes));

void save(const struct termios& t, detail::saved_terminal_modes& to) noexcept { std::memcpy(to.bytes, &t, sizeof t); }

struct termios load(const detail::saved_terminal_modes& from) noexcept {
  struct termios t {};
  std::memcpy(&t, from.bytes, sizeof t);
  return t;
}

void set_errno_error(std::error_code& ec) noexcept { ec = detail::system_error_code(errno); }

}  // namespace

bool is_terminal(native_handle_type h) noexcept { return ::isatty(h) != 0; }

terminal_size window_size(native_handle_type tty, std::error_code& ec) noexcept {
  ec.clear();
  struct winsize ws {};
  if (::ioctl(tty, TIOCGWINSZ, &ws) != 0) {
    set_errno_error(ec);
    return {};
  }
  return terminal_size{ws.ws_row, ws.ws_col};
}

// ---- terminal_mode ----------------------------------------------------------

terminal_mode::terminal_mode(native_handle_type tty, terminal_setting setting, std::error_code& ec) noexcept {
  ec.clear();
  struct termios old {};
  if (::tcgetattr(tty, &old) != 0) {
    set_errno_error(ec);
    return;
  }
  if (setting == terminal_setting::vt_output) return;  // a POSIX terminal always interprets VT
  struct termios raw = old;
  ::cfmakeraw(&raw);
  if (::tcsetattr(tty, TCSANOW, &raw) != 0) {
    set_errno_error(ec);
    return;
  }
  save(old, saved_);
  tty_ = tty;
}

void terminal_mode::restore() noexcept {
  if (!active()) return;
  const struct termios t = load(saved_);
  ::tcsetattr(tty_, TCSADRAIN, &t);
  tty_ = invalid_native_handle;
}

// ---- terminal_lease ---------------------------------------------------------

terminal_lease::terminal_lease(native_handle_type tty) noexcept {
  if (::isatty(tty) == 0 || ::tcgetpgrp(tty) != ::getpgrp()) return;
  struct termios modes {};
  if (::tcgetattr(tty, &modes) != 0) return;
  save(modes, modes_);
  // tcsetpgrp() from a background group raises SIGTTOU unless it is
  // blocked, and we are in the background while the child has the terminal.
  sigset_t ttou;
  sigset_t old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  if (::pthread_sigmask(SIG_BLOCK, &ttou, &old) != 0) return;
  unblock_ttou_ = sigismember(&old, SIGTTOU) == 0;
  tty_ = tty;
  possible_ = true;
}

terminal_lease::~terminal_lease() {
  take_back(terminal_modes::keep);
  if (unblock_ttou_) {
    sigset_t ttou;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    ::pthread_sigmask(SIG_UNBLOCK, &ttou, nullptr);
  }
}

void terminal_lease::give_to(process& p, std::error_code& ec) noexcept {
  ec.clear();
  if (!possible_) return;
  if (p.group_id() <= 0) {
    ec = make_error_code(errc::invalid_argument);
    return;
  }
  const pid_t owner = ::tcgetpgrp(tty_);
  if (owner == p.group_id()) {  // command::foreground(): the child took it before it started
    lent_ = true;
    return;
  }
  if (owner != ::getpgrp()) return;  // we were put in the background
  if (::tcsetpgrp(tty_, p.group_id()) != 0) {
    set_errno_error(ec);
    return;
  }
  lent_ = true;
  std::error_code ignored;
  p.signal_group(SIGCONT, ignored);
}

void terminal_lease::take_back(terminal_modes modes) noexcept {
  if (!lent_) return;
  ::tcsetpgrp(tty_, ::getpgrp());
  if (modes == terminal_modes::restore) {
    const struct termios t = load(modes_);
    ::tcsetattr(tty_, TCSADRAIN, &t);
  }
  lent_ = false;
}

void terminal_lease::follow_stop(process& p, std::error_code& ec) noexcept {
  ec.clear();
  take_back(terminal_modes::restore);
  // Our whole job, as the terminal would have stopped it; returns once we
  // are continued.
  if (possible_) ::kill(0, SIGTSTP);
  give_to(p, ec);
  std::error_code ignored;
  p.signal_group(SIGCONT, ignored);
}

bool has_stopped(const process& p) noexcept {
  if (!p.valid() || p.status()) return false;
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(p.pid()), &info, WSTOPPED | WNOHANG) == 0 && info.si_pid == p.pid() &&
         info.si_code == CLD_STOPPED;
}

}  // namespace pipekit
