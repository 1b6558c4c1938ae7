// The constructors of signal_relay; the rest is per OS
// (posix/signals_posix.cpp, windows/signals_windows.cpp), where
// detail::signal_relay_state is defined.
#include "pipekit/signals.hpp"

#include "pipekit/error.hpp"

namespace pipekit {

signal_relay::signal_relay(std::span<const int> signals) {
  std::error_code ec;
  start(signals, ec);
  detail::throw_if(ec, "signal relay");
}

signal_relay::signal_relay(std::span<const int> signals, std::error_code& ec) noexcept { start(signals, ec); }

}  // namespace pipekit
