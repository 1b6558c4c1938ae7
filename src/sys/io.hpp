// Internal OS-neutral interface for raw handle I/O. One implementation per
// platform (src/posix/io_posix.cpp, src/windows/io_windows.cpp).
#pragma once

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/native_handle.hpp"
#include "pipekit/stream.hpp"

namespace pipekit::detail {

// A non-blocking operation that found nothing to do (EAGAIN/EWOULDBLOCK).
inline bool would_block(const std::error_code& ec) noexcept {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again;
}

// What a handle is, decided once per stream: it selects the I/O path.
enum class handle_kind : std::uint8_t {
  other,   // file, tty, console, device
  socket,  // POSIX: written with MSG_NOSIGNAL instead of the SIGPIPE guard
  pipe,    // POSIX: a pipe or FIFO. Windows: a pipe handle opened for synchronous I/O
  // Windows: a pipe handle opened with FILE_FLAG_OVERLAPPED: operations can
  // wait with a deadline and be cancelled.
  overlapped_pipe,
};
handle_kind classify_handle(native_handle_type h) noexcept;

// One read; retries EINTR. 0 means end of stream.
std::size_t read_handle(native_handle_type h, handle_kind kind, std::span<std::byte> buf, std::error_code& ec) noexcept;

// One write; retries EINTR. Never raises SIGPIPE: a write to a pipe or socket
// without a reader reports broken_pipe.
std::size_t write_handle(native_handle_type h, handle_kind kind, std::span<const std::byte> data,
                         std::error_code& ec) noexcept;

// One read / write that gives up when `until` passes (timed_out; what moved
// before counts), for handles whose system can cancel an operation in
// flight (Windows overlapped pipes). Returns false, doing nothing, for
// handles that wait for readiness first instead (all of them on POSIX).
bool read_handle_until(native_handle_type h, handle_kind kind, std::span<std::byte> buf, deadline until, std::size_t& n,
                       std::error_code& ec) noexcept;
bool write_handle_until(native_handle_type h, handle_kind kind, std::span<const std::byte> data, deadline until,
                        std::size_t& n, std::error_code& ec) noexcept;

// Waits until `h` is ready for `what`; false when `until` passed first.
bool wait_handle(native_handle_type h, events what, deadline until, std::error_code& ec) noexcept;

void set_handle_nonblocking(native_handle_type h, bool on, std::error_code& ec) noexcept;
bool handle_is_nonblocking(native_handle_type h) noexcept;

// The most a blocking write may carry without blocking once wait_handle()
// reported the handle writable (PIPE_BUF on POSIX).
std::size_t blocking_write_limit() noexcept;

// Milliseconds until `until`, rounded up, clamped for poll()-like calls; -1 for
// no deadline. (Portable: every platform's waits use it.)
inline int timeout_ms(deadline until) noexcept {
  if (until == no_deadline) return -1;
  const auto now = clock::now();
  if (until <= now) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
  return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

}  // namespace pipekit::detail
