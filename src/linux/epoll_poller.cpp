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
#include "posix/syscall.hpp"
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
    if (h < 0) {
      ec = system_error_code(EBADF);
      return;
    }
    try {
      if (static_cast<std::size_t>(h) >= regs_.size()) regs_.resize(static_cast<std::size_t>(h) + 1);
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return;
    }
    registration& r = regs_[static_cast<std::size_t>(h)];
    if (r.state == kind::always_ready) {
      ec = system_error_code(EEXIST);
      return;
    }
    ctl(EPOLL_CTL_ADD, h, interest, ec);
    if (!ec && r.state == kind::watched) {
      // The kernel took it, so the file we registered under this number was
      // closed (epoll forgets closed files) and the number now names another.
      // Refused rather than silently re-targeted: the caller's token still
      // means the old file.
      ::epoll_ctl(ep_.native_handle(), EPOLL_CTL_DEL, h, nullptr);
      ec = make_error_code(errc::stale_registration);
      return;
    }
    if (ec == std::errc::operation_not_permitted) {
      // epoll refuses regular files and /dev/null (EPERM); poll() reports
      // them always ready, and so do we.
      ec.clear();
      r = {kind::always_ready, interest, token};
      ++always_ready_count_;
      ++count_;
      return;
    }
    if (ec) return;
    r = {kind::watched, interest, token};
    ++count_;
  }

  void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override {
    registration* r = find(h);
    if (r == nullptr) {
      ec = system_error_code(ENOENT);
      return;
    }
    if (r->state == kind::watched) {
      ctl(EPOLL_CTL_MOD, h, interest, ec);
      if (ec) return;
    }
    r->interest = interest;
    r->token = token;
  }

  void remove(native_handle_type h, std::error_code& ec) noexcept override {
    registration* r = find(h);
    if (r == nullptr) {
      ec = system_error_code(ENOENT);
      return;
    }
    // ENOENT/EBADF: the registered file was closed first, which took it out
    // of the epoll set already; forgetting it is all that is left to do.
    if (r->state == kind::watched && ::epoll_ctl(ep_.native_handle(), EPOLL_CTL_DEL, h, nullptr) != 0 &&
        errno != ENOENT && errno != EBADF) {
      ec = system_error_code(errno);
      return;
    }
    if (r->state == kind::always_ready) --always_ready_count_;
    *r = {};
    --count_;
  }

  std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept override {
    if (out.empty()) {
      ec = make_error_code(errc::invalid_argument);
      return 0;
    }
    // Always-ready handles with interest make the wait a non-blocking check.
    std::size_t ready_now = 0;
    if (always_ready_count_ != 0)
      for (const registration& r : regs_)
        if (r.state == kind::always_ready && r.interest != events::none && ready_now < out.size())
          out[ready_now++] = poll_event{r.token, r.interest};
    if (ready_now == out.size()) return ready_now;
    // Never more than `out` holds: epoll moves the handles it reports behind
    // those it did not, so with a small `out` every ready handle takes its
    // turn. (Asking for one more, for the wake event, would report the same
    // first handles every time and starve the rest.)
    const std::size_t room = std::min(out.size() - ready_now, count_ + 1);
    if (events_.size() < room) {
      try {
        events_.resize(room);
      } catch (...) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return 0;
      }
    }
    epoll_event* evs = events_.data();
    for (;;) {
      const int n = posix::retry_eintr([&] {
        if (const int err = posix::inject_wait()) {
          errno = err;
          return -1;
        }
        return ::epoll_wait(ep_.native_handle(), evs, static_cast<int>(room), ready_now != 0 ? 0 : timeout_ms(until));
      });
      if (n < 0) {
        ec = system_error_code(errno);
        return 0;
      }
      if (n == 0 && ready_now == 0 && clock::now() < until && until != no_deadline) continue;  // woke early
      std::size_t filled = ready_now;
      for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == wake_token) {
          std::uint64_t v;
          [[maybe_unused]] const ssize_t r = ::read(wake_fd_.native_handle(), &v, sizeof v);
          continue;
        }
        const registration& r = regs_[evs[i].data.u64];
        out[filled++] = poll_event{r.token, with_interest(from_epoll(evs[i].events), r.interest)};
      }
      return filled;
    }
  }

  void wake() noexcept override {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t r = ::write(wake_fd_.native_handle(), &one, sizeof one);
  }

  poller_backend backend() const noexcept override { return poller_backend::epoll; }
  std::size_t size() const noexcept override { return count_; }

  void register_wake(std::error_code& ec) noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_token;
    if (::epoll_ctl(ep_.native_handle(), EPOLL_CTL_ADD, wake_fd_.native_handle(), &ev) != 0)
      ec = system_error_code(errno);
  }

 private:
  enum class kind : unsigned char { unused, watched, always_ready };
  struct registration {
    kind state = kind::unused;
    events interest = events::none;
    std::uint64_t token = 0;
  };

  registration* find(native_handle_type h) noexcept {
    if (h < 0 || static_cast<std::size_t>(h) >= regs_.size()) return nullptr;
    registration& r = regs_[static_cast<std::size_t>(h)];
    return r.state == kind::unused ? nullptr : &r;
  }

  // The event data is the descriptor, so wait() finds the token and the
  // interest (with_interest() needs it) in regs_.
  void ctl(int op, native_handle_type h, events interest, std::error_code& ec) noexcept {
    epoll_event ev{};
    ev.events = to_epoll(interest);
    ev.data.u64 = static_cast<std::uint64_t>(h);
    if (::epoll_ctl(ep_.native_handle(), op, h, &ev) != 0) ec = system_error_code(errno);
  }

  handle ep_;
  handle wake_fd_;
  std::size_t count_ = 0;
  std::size_t always_ready_count_ = 0;
  std::vector<epoll_event> events_;
  std::vector<registration> regs_;  // indexed by descriptor
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
