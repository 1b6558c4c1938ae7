#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <new>
#include <utility>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/signals.hpp"

namespace pipekit {

namespace detail {

struct signal_relay_state {
  pipe_pair pipe;
  std::vector<std::pair<int, struct sigaction>> previous;
};

void signal_relay_state_deleter::operator()(signal_relay_state* s) const noexcept { delete s; }

}  // namespace detail

namespace {

// The write end of the current relay's pipe, read by the handler: set before
// any handler is installed, reset only after all of them are removed. A
// lock-free atomic is async-signal-safe; -1 means no relay.
std::atomic<int> relay_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void relay_signal(int sig) {
  // Only async-signal-safe calls here: one write(). A full pipe drops the
  // byte, which is harmless: the reader is already due to wake up.
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t r = ::write(relay_fd.load(std::memory_order_relaxed), &byte, 1);
  errno = saved;
}

// Newest first, so a signal listed twice ends up with its original handler.
void restore(detail::signal_relay_state& s) noexcept {
  std::for_each(s.previous.rbegin(), s.previous.rend(),
                [](const auto& p) { ::sigaction(p.first, &p.second, nullptr); });
  s.previous.clear();
}

}  // namespace

void signal_relay::start(std::span<const int> signals, std::error_code& ec) noexcept {
  ec.clear();
  auto s = std::unique_ptr<detail::signal_relay_state, detail::signal_relay_state_deleter>(
      new (std::nothrow) detail::signal_relay_state);
  if (!s) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  try {
    s->previous.reserve(signals.size());
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return;
  }
  pipe_options o;
  o.capacity = 0;  // a few bytes at most: the OS default is plenty
  o.nonblocking_read = true;
  o.nonblocking_write = true;  // the handler must never block
  s->pipe = make_pipe(o, ec);
  if (ec) return;
  int none = -1;
  if (!relay_fd.compare_exchange_strong(none, s->pipe.write_end.native_handle())) {
    ec = make_error_code(errc::invalid_argument);
    return;
  }
  for (const int sig : signals) {
    struct sigaction sa {};
    sa.sa_handler = relay_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    struct sigaction old {};
    if (::sigaction(sig, &sa, &old) != 0) {
      ec = detail::system_error_code(errno);
      restore(*s);
      relay_fd.store(-1);
      return;
    }
    s->previous.emplace_back(sig, old);  // reserved: cannot throw
  }
  state_ = std::move(s);
}

signal_relay::~signal_relay() {
  if (!state_) return;
  restore(*state_);
  relay_fd.store(-1);
}

native_handle_type signal_relay::native_handle() const noexcept {
  return state_ ? state_->pipe.read_end.native_handle() : invalid_native_handle;
}

std::vector<int> signal_relay::take() {
  std::vector<int> got;
  if (!state_) return got;
  std::array<std::byte, 64> buf{};
  for (;;) {
    std::error_code ec;
    const std::size_t n = state_->pipe.read_end.read_some(buf, ec);
    if (ec || n == 0) break;  // would block: drained
    for (std::size_t i = 0; i < n; ++i) got.push_back(static_cast<int>(buf[i]));
  }
  return got;
}

}  // namespace pipekit
