// Internal interface of a poller backend (epoll, poll(), IOCP).
#pragma once

#include <memory>
#include <span>
#include <system_error>

#include "pipekit/poller.hpp"

namespace pipekit::detail {

// The rule every backend follows: a hang-up or a pending error also reports
// whichever of readable and writable was asked for, because the next read
// (end of stream, or the error) or write (EPIPE, or the error) returns at
// once. So a loop that only reads when readable sees the end of the stream.
constexpr events with_interest(events got, events interest) noexcept {
  if (any(got & (events::hangup | events::error))) got = got | (interest & (events::readable | events::writable));
  return got;
}

class poller_impl {
 public:
  poller_impl() = default;
  poller_impl(const poller_impl&) = delete;
  poller_impl& operator=(const poller_impl&) = delete;
  virtual ~poller_impl() = default;

  virtual void add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept = 0;
  virtual void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept = 0;
  virtual void remove(native_handle_type h, std::error_code& ec) noexcept = 0;
  virtual std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept = 0;
  virtual void wake() noexcept = 0;
  [[nodiscard]] virtual poller_backend backend() const noexcept = 0;
  [[nodiscard]] virtual std::size_t size() const noexcept = 0;
};

// Each is defined only where its backend exists (src/linux/epoll_poller.cpp,
// src/posix/poll_poller.cpp, src/windows/iocp_poller.cpp); poller.cpp's
// backend table lists the ones this platform has. Each returns nullptr and
// sets ec when the system refuses (no descriptors left, ...).
std::unique_ptr<poller_impl> make_epoll_poller(std::error_code& ec) noexcept;
std::unique_ptr<poller_impl> make_poll_poller(std::error_code& ec) noexcept;
std::unique_ptr<poller_impl> make_iocp_poller(std::error_code& ec) noexcept;

}  // namespace pipekit::detail
