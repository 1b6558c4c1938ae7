#include "signal_relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <system_error>

namespace pipekit::cli {

namespace {

// The write end of the current relay's pipe. A plain int read by the
// handler: it is set before any handler is installed and reset only after
// all of them are removed.
volatile std::sig_atomic_t relay_fd = -1;

extern "C" void relay_signal(int sig) {
  // Only async-signal-safe calls here: one write(). A full pipe drops the
  // byte, which is harmless: the reader is already due to wake up.
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t r = ::write(relay_fd, &byte, 1);
  errno = saved;
}

}  // namespace

signal_relay::signal_relay(const std::vector<int>& signals) {
  if (relay_fd != -1) throw std::logic_error("only one signal_relay may exist at a time");
  pipe_options o;
  o.capacity = 0;  // a few bytes at most: the OS default is plenty
  o.nonblocking_read = true;
  o.nonblocking_write = true;  // the handler must never block
  pipe_ = make_pipe(o);
  relay_fd = pipe_.write_end.native();
  for (const int sig : signals) {
    struct sigaction sa {};
    sa.sa_handler = relay_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    struct sigaction old {};
    if (::sigaction(sig, &sa, &old) != 0) {
      const int err = errno;
      restore();
      throw std::system_error(err, std::system_category(), "sigaction");
    }
    previous_.emplace_back(sig, old);
  }
}

signal_relay::~signal_relay() { restore(); }

void signal_relay::restore() noexcept {
  // Newest first, so a signal listed twice ends up with its original handler.
  std::for_each(previous_.rbegin(), previous_.rend(), [](const auto& p) { ::sigaction(p.first, &p.second, nullptr); });
  previous_.clear();
  relay_fd = -1;
}

std::vector<int> signal_relay::take() {
  std::vector<int> got;
  std::array<std::byte, 64> buf{};
  for (;;) {
    std::error_code ec;
    const std::size_t n = pipe_.read_end.read_some(buf, ec);
    if (ec || n == 0) break;  // would block: drained
    for (std::size_t i = 0; i < n; ++i) got.push_back(static_cast<int>(buf[i]));
  }
  return got;
}

}  // namespace pipekit::cli
