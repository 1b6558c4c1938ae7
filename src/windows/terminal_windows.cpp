#include <windows.h>

#include <cstring>

#include "pipekit/error.hpp"
#include "pipekit/process.hpp"
#include "pipekit/terminal.hpp"
#include "windows/win_error.hpp"

namespace pipekit {

namespace {

static_assert(sizeof(DWORD) <= sizeof(detail::saved_terminal_modes::bytes));

DWORD load(const detail::saved_terminal_modes& from) noexcept {
  DWORD mode = 0;
  std::memcpy(&mode, from.bytes, sizeof mode);
  return mode;
}

}  // namespace

bool is_terminal(native_handle_type h) noexcept {
  DWORD mode = 0;
  return ::GetConsoleMode(h, &mode) != 0;
}

terminal_size window_size(native_handle_type tty, std::error_code& ec) noexcept {
  ec.clear();
  CONSOLE_SCREEN_BUFFER_INFO info{};
  if (!::GetConsoleScreenBufferInfo(tty, &info)) {
    ec = detail::last_win_error();
    return {};
  }
  return terminal_size{static_cast<unsigned short>(info.srWindow.Bottom - info.srWindow.Top + 1),
                       static_cast<unsigned short>(info.srWindow.Right - info.srWindow.Left + 1)};
}

// ---- terminal_mode: console modes -----------------------------------------------

terminal_mode::terminal_mode(native_handle_type tty, terminal_setting setting, std::error_code& ec) noexcept {
  ec.clear();
  DWORD old = 0;
  if (!::GetConsoleMode(tty, &old)) {
    ec = detail::last_win_error();
    return;
  }
  const DWORD mode = setting == terminal_setting::raw
                         ? (old | ENABLE_VIRTUAL_TERMINAL_INPUT) &
                               ~static_cast<DWORD>(ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_PROCESSED_INPUT)
                         : old | ENABLE_PROCESSED_OUTPUT | ENABLE_VIRTUAL_TERMINAL_PROCESSING;
  if (!::SetConsoleMode(tty, mode)) {
    ec = detail::last_win_error();
    return;
  }
  std::memcpy(saved_.bytes, &old, sizeof old);
  tty_ = tty;
}

void terminal_mode::restore() noexcept {
  if (!active()) return;
  ::SetConsoleMode(tty_, load(saved_));
  tty_ = invalid_native_handle;
}

// ---- no foreground process groups on a console --------------------------------

terminal_lease::terminal_lease(native_handle_type) noexcept {}
terminal_lease::~terminal_lease() = default;

void terminal_lease::give_to(process&, std::error_code& ec) noexcept { ec.clear(); }
void terminal_lease::take_back(terminal_modes) noexcept {}
void terminal_lease::follow_stop(process&, std::error_code& ec) noexcept { ec.clear(); }

bool has_stopped(const process&) noexcept { return false; }

}  // namespace pipekit
