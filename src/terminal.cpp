// The throwing forms and the moves of terminal.hpp; the rest is per OS
// (posix/terminal_posix.cpp, windows/terminal_windows.cpp).
#include "pipekit/terminal.hpp"

#include <utility>

#include "pipekit/error.hpp"

namespace pipekit {

terminal_size window_size(native_handle_type tty) {
  std::error_code ec;
  const terminal_size s = window_size(tty, ec);
  detail::throw_if(ec, "window size");
  return s;
}

terminal_mode::terminal_mode(native_handle_type tty, terminal_setting setting) {
  std::error_code ec;
  terminal_mode m(tty, setting, ec);
  detail::throw_if(ec, "terminal mode");
  *this = std::move(m);
}

terminal_mode::terminal_mode(terminal_mode&& other) noexcept
    : tty_(std::exchange(other.tty_, invalid_native_handle)), saved_(other.saved_) {}

terminal_mode& terminal_mode::operator=(terminal_mode&& other) noexcept {
  if (this != &other) {
    restore();
    tty_ = std::exchange(other.tty_, invalid_native_handle);
    saved_ = other.saved_;
  }
  return *this;
}

terminal_mode::~terminal_mode() { restore(); }

void terminal_lease::give_to(process& p) {
  std::error_code ec;
  give_to(p, ec);
  detail::throw_if(ec, "lend the terminal");
}

void terminal_lease::follow_stop(process& p) {
  std::error_code ec;
  follow_stop(p, ec);
  detail::throw_if(ec, "lend the terminal");
}

}  // namespace pipekit
