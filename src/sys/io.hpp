// Internal OS-neutral interface for raw handle I/O. One implementation per
// platform (src/posix/io_posix.cpp, later src/windows/io_windows.cpp).
#pragma once

#include <cstddef>
#include <span>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/native_handle.hpp"
#include "pipekit/stream.hpp"

namespace pipekit::detail {

// One read; retries EINTR. 0 means end of stream.
std::size_t read_handle(native_handle_type h, std::span<std::byte> buf, std::error_code& ec) noexcept;

// One write; retries EINTR. Never raises SIGPIPE: a write to a pipe or socket
// without a reader reports broken_pipe. `is_socket` selects the cheap path
// (MSG_NOSIGNAL) for sockets.
std::size_t write_handle(native_handle_type h, std::span<const std::byte> data, bool is_socket,
                         std::error_code& ec) noexcept;

// Waits until `h` is ready for `what`; false when `until` passed first.
bool wait_handle(native_handle_type h, readiness what, deadline until, std::error_code& ec) noexcept;

// True if `h` is a socket (decides the SIGPIPE strategy once per stream).
bool handle_is_socket(native_handle_type h) noexcept;

void set_handle_nonblocking(native_handle_type h, bool on, std::error_code& ec) noexcept;
bool handle_is_nonblocking(native_handle_type h) noexcept;

// The most a blocking write may carry without blocking once wait_handle()
// reported the handle writable (PIPE_BUF on POSIX).
std::size_t blocking_write_limit() noexcept;

// Milliseconds until `until`, rounded up, clamped for poll()-like calls; -1 for
// no deadline.
int timeout_ms(deadline until) noexcept;

}  // namespace pipekit::detail
