#include <utility>

#include "pipekit/error.hpp"
#include "pipekit/stream.hpp"
#include "sys/io.hpp"
#include "sys/pipe_capacity.hpp"

namespace pipekit {

handle_stream::handle_stream(handle h) noexcept : h_(std::move(h)) {
  if (h_.is_open()) {
    nonblocking_ = detail::handle_is_nonblocking(h_.native_handle());
    kind_ = static_cast<std::uint8_t>(detail::classify_handle(h_.native_handle()));
  }
}

handle_stream::handle_stream(handle_stream&& other) noexcept
    : h_(std::move(other.h_)),
      nonblocking_(other.nonblocking_),
      kind_(other.kind_),
      pipe_budget_(std::exchange(other.pipe_budget_, 0)) {}

handle_stream& handle_stream::operator=(handle_stream&& other) noexcept {
  if (this != &other) {
    give_back_budget();
    h_ = std::move(other.h_);
    nonblocking_ = other.nonblocking_;
    kind_ = other.kind_;
    pipe_budget_ = std::exchange(other.pipe_budget_, 0);
  }
  return *this;
}

handle_stream::~handle_stream() { give_back_budget(); }

void handle_stream::give_back_budget() noexcept {
  if (pipe_budget_ != 0) detail::give_pipe_budget(std::exchange(pipe_budget_, 0));
}

handle handle_stream::release_handle() noexcept {
  give_back_budget();
  return std::move(h_);
}

stream_caps handle_stream::capabilities() const noexcept {
  if (!h_.is_open()) return stream_caps::none;
#if defined(_WIN32)
  // No non-blocking mode for pipes there (see set_handle_nonblocking).
  return stream_caps::native_handle | stream_caps::gather_write;
#else
  return stream_caps::native_handle | stream_caps::gather_write | stream_caps::nonblocking;
#endif
}

void handle_stream::do_set_nonblocking(bool on, std::error_code& ec) noexcept {
  detail::set_handle_nonblocking(h_.native_handle(), on, ec);
  if (!ec) nonblocking_ = on;
}

std::size_t handle_stream::do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept {
  return detail::read_handle(h_.native_handle(), static_cast<detail::handle_kind>(kind_), buf, ec);
}

std::size_t handle_stream::do_write_some(std::span<const std::byte> data, std::error_code& ec) noexcept {
  return detail::write_handle(h_.native_handle(), static_cast<detail::handle_kind>(kind_), data, ec);
}

bool handle_stream::do_wait(events what, deadline until, std::error_code& ec) noexcept {
  return detail::wait_handle(h_.native_handle(), what, until, ec);
}

std::size_t handle_stream::do_read_some_until(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept {
  std::size_t n = 0;
  if (detail::read_handle_until(h_.native_handle(), static_cast<detail::handle_kind>(kind_), buf, until, n, ec))
    return n;
  return stream::do_read_some_until(buf, until, ec);
}

std::size_t handle_stream::do_write_some_until(std::span<const std::byte> data, deadline until,
                                               std::error_code& ec) noexcept {
  std::size_t n = 0;
  if (detail::write_handle_until(h_.native_handle(), static_cast<detail::handle_kind>(kind_), data, until, n, ec))
    return n;
  return stream::do_write_some_until(data, until, ec);
}

void handle_stream::do_close(std::error_code& ec) noexcept {
  give_back_budget();
  h_.close(ec);
}

std::size_t handle_stream::nonblocking_write_limit() const noexcept {
  // A non-blocking write never blocks; a blocking pipe accepts PIPE_BUF bytes
  // (on POSIX) without blocking once it was reported writable.
  return nonblocking_ ? static_cast<std::size_t>(-1) : detail::blocking_write_limit();
}

}  // namespace pipekit
