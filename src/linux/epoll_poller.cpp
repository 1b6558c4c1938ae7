// epoll backend. Level-triggered, like the poll() backend, so both behave
// the same; an eventfd carries wake().
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/handle.hpp"
#include "sys/io.hpp"
#include "sys/poller_impl.hpp"

namespace pipekit::detail {
namespace {

constexpr std::uint64_t wake_token = ~std::uint64_t{0};

std::uint32_t to_epoll(events e) {
  std::uint32_t m = 0;
  if (any(e & events::readable)) m |= EPOLLIN | EPOLLRDHUP;
  if (any(e & events::writable)) m |= EPOLLOUT;
  return m;
}

events from_epoll(std::uint32_t m) {
  events e = events::none;
  if (m & EPOLLIN) e = e | events::readable;
  if (m & EPOLLOUT) e = e | events::writable;
  if (m & (EPOLLHUP | EPOLLRDHUP)) e = e | events::hangup;
  if (m & EPOLLERR) e = e | events::error;
  return e;
}

class epoll_poller final : public poller_impl {
 public:
  epoll_poller(handle ep, handle wake_fd) : ep_(std::move(ep)), wake_fd_(std::move(wake_fd)) {}

  void add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override {
    ctl(EPOLL_CTL_ADD, h, interest, token, ec);
    if (ec == std::errc::operation_not_permitted) {
      // epoll refuses regular files and /dev/null (EPERM); poll() reports
      // them always ready, and so do we.
      ec.clear();
      try {
        if (find_always_ready(h) != always_ready_.end()) {
          ec = system_error_code(EEXIST);
          return;
        }
        always_ready_.push_back({h, interest, token});
      } catch (...) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return;
      }
    }
    if (!ec) ++count_;
  }
  void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override {
    if (const auto it = find_always_ready(h); it != always_ready_.end()) {
      it->interest = interest;
      it->token = token;
      return;
    }
    ctl(EPOLL_CTL_MOD, h, interest, token, ec);
  }
  void remove(native_handle_type h, std::error_code& ec) noexcept override {
    if (const auto it = find_always_ready(h); it != always_ready_.end()) {
      always_ready_.erase(it);
      --count_;
      return;
    }
    if (::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, h, nullptr) != 0) {
      ec = system_error_code(errno);
      return;
    }
    --count_;
  }

  std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept override {
    if (out.empty()) {
      ec = make_error_code(errc::invalid_argument);
      return 0;
    }
    // One slot more than registered handles, so the wake event never
    // crowds out a ready handle; the caller's span bounds the count.
    const std::size_t room = std::min(out.size(), count_) + 1;
    if (events_.size() < room) {
      try {
        events_.resize(room);
      } catch (...) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return 0;
      }
    }
    epoll_event* evs = events_.data();
    const int max = static_cast<int>(room);
    // Always-ready handles with interest make the wait a non-blocking check.
    std::size_t ready_now = 0;
    for (const auto& a : always_ready_)
      if (a.interest != events::none && ready_now < out.size()) out[ready_now++] = poll_event{a.token, a.interest};
    for (;;) {
      const int n = ::epoll_wait(ep_.get(), evs, std::min(max, static_cast<int>(out.size() - ready_now) + 1),
                                 ready_now != 0 ? 0 : timeout_ms(until));
      if (n < 0) {
        if (errno == EINTR) continue;
        ec = system_error_code(errno);
        return 0;
      }
      if (n == 0 && ready_now == 0 && clock::now() < until && until != no_deadline) continue;  // woke early
      std::size_t filled = ready_now;
      for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == wake_token) {
          std::uint64_t v;
          [[maybe_unused]] const ssize_t r = ::read(wake_fd_.get(), &v, sizeof v);
          continue;
        }
        out[filled++] = poll_event{evs[i].data.u64, from_epoll(evs[i].events)};
      }
      return filled;
    }
  }

  void wake() noexcept override {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t r = ::write(wake_fd_.get(), &one, sizeof one);
  }

  poller_backend backend() const noexcept override { return poller_backend::epoll; }
  std::size_t size() const noexcept override { return count_; }

  void register_wake(std::error_code& ec) noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_token;
    if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0) ec = system_error_code(errno);
  }

 private:
  void ctl(int op, native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept {
    if (token == wake_token) {
      ec = make_error_code(errc::invalid_argument);
      return;
    }
    epoll_event ev{};
    ev.events = to_epoll(interest);
    ev.data.u64 = token;
    if (::epoll_ctl(ep_.get(), op, h, &ev) != 0) ec = system_error_code(errno);
  }

  handle ep_;
  struct always_ready {
    native_handle_type h;
    events interest;
    std::uint64_t token;
  };
  std::vector<always_ready>::iterator find_always_ready(native_handle_type h) noexcept {
    return std::find_if(always_ready_.begin(), always_ready_.end(), [h](const always_ready& a) { return a.h == h; });
  }

  handle wake_fd_;
  std::size_t count_ = 0;
  std::vector<epoll_event> events_;
  std::vector<always_ready> always_ready_;  // handles epoll cannot watch
};

}  // namespace

std::unique_ptr<poller_impl> make_epoll_poller(std::error_code& ec) noexcept {
  handle ep{::epoll_create1(EPOLL_CLOEXEC)};
  if (!ep) {
    ec = system_error_code(errno);
    return nullptr;
  }
  handle wake_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  if (!wake_fd) {
    ec = system_error_code(errno);
    return nullptr;
  }
  auto p = std::make_unique<epoll_poller>(std::move(ep), std::move(wake_fd));
  p->register_wake(ec);
  if (ec) return nullptr;
  return p;
}

}  // namespace pipekit::detail
