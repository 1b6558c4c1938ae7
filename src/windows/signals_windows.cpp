// Console control events: the handler runs on a thread the system starts
// for the event, so it only sets bits and an event; take() collects them.
#include <windows.h>

#include <atomic>
#include <iterator>
#include <new>

#include "pipekit/error.hpp"
#include "pipekit/signals.hpp"
#include "windows/win_error.hpp"

namespace pipekit {

namespace detail {

struct signal_relay_state {
  HANDLE event = nullptr;  // the process-wide event (see below)
};

void signal_relay_state_deleter::operator()(signal_relay_state* s) const noexcept { delete s; }

}  // namespace detail

namespace {

// The relay's numbers, each one bit.
constexpr int relayable[] = {signal_hangup, signal_interrupt, signal_break};

unsigned bit_of(int sig) noexcept {
  for (unsigned i = 0; i < std::size(relayable); ++i)
    if (relayable[i] == sig) return 1u << i;
  return 0;
}

int signal_of(DWORD event) noexcept {
  switch (event) {
    case CTRL_C_EVENT: return signal_interrupt;
    case CTRL_BREAK_EVENT: return signal_break;
    default: return signal_hangup;  // close, logoff, shutdown
  }
}

// What the handler reads. SetConsoleCtrlHandler(FALSE) does not wait for a
// handler that is already running, so the handler touches no relay object:
// only these, and one manual-reset event made for the first relay and never
// closed (closing it could let a late handler set a recycled handle).
std::atomic<bool> in_use{false};
std::atomic<unsigned> wanted{0};
std::atomic<unsigned> arrived{0};
std::atomic<HANDLE> relay_event{nullptr};

BOOL WINAPI on_console_event(DWORD event) {
  const unsigned bit = bit_of(signal_of(event));
  if ((wanted.load() & bit) == 0) return FALSE;  // the next handler's
  arrived.fetch_or(bit);
  ::SetEvent(relay_event.load());
  return TRUE;  // handled: the process is not ended
}

}  // namespace

void signal_relay::start(std::span<const int> signals, std::error_code& ec) noexcept {
  ec.clear();
  unsigned bits = 0;
  for (const int sig : signals) {
    if (bit_of(sig) == 0) {
      ec = make_error_code(errc::not_supported);
      return;
    }
    bits |= bit_of(sig);
  }
  auto s = std::unique_ptr<detail::signal_relay_state, detail::signal_relay_state_deleter>(
      new (std::nothrow) detail::signal_relay_state);
  if (!s) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  bool free = false;
  if (!in_use.compare_exchange_strong(free, true)) {
    ec = make_error_code(errc::invalid_argument);
    return;
  }
  if (relay_event.load() == nullptr) {
    const HANDLE e = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (e == nullptr) {
      ec = detail::last_win_error();
      in_use.store(false);
      return;
    }
    relay_event.store(e);
  }
  s->event = relay_event.load();
  ::ResetEvent(s->event);
  arrived.store(0);
  wanted.store(bits);
  if (!::SetConsoleCtrlHandler(on_console_event, TRUE)) {
    ec = detail::last_win_error();
    wanted.store(0);
    in_use.store(false);
    return;
  }
  state_ = std::move(s);
}

signal_relay::~signal_relay() {
  if (!state_) return;
  ::SetConsoleCtrlHandler(on_console_event, FALSE);
  wanted.store(0);
  in_use.store(false);
}

native_handle_type signal_relay::native_handle() const noexcept {
  return state_ ? state_->event : invalid_native_handle;
}

std::vector<int> signal_relay::take() {
  std::vector<int> got;
  if (!state_) return got;
  // Reset first: an event that arrives after the exchange sets it again.
  ::ResetEvent(state_->event);
  const unsigned bits = arrived.exchange(0);
  for (unsigned i = 0; i < std::size(relayable); ++i)
    if ((bits & (1u << i)) != 0) got.push_back(relayable[i]);
  return got;
}

}  // namespace pipekit
