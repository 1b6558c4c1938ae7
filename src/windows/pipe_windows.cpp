#include <windows.h>

#include <atomic>
#include <string>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "sys/pipe_capacity.hpp"
#include "windows/overlapped.hpp"
#include "windows/win_error.hpp"
#include "windows/win_pipe.hpp"

namespace pipekit {

namespace detail {

namespace {

std::wstring unique_pipe_name() {
  static std::atomic<unsigned long> serial{0};
  return L"\\\\.\\pipe\\pipekit-anon-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
         std::to_wstring(serial.fetch_add(1)) + L"-" + std::to_wstring(::GetTickCount64());
}

}  // namespace

win_pipe_ends make_win_pipe(std::size_t capacity, bool read_overlapped, bool write_overlapped,
                            std::error_code& ec) noexcept try {
  const std::wstring name = unique_pipe_name();
  const DWORD size = clamp_dword(capacity);
  // The server end reads; one instance, byte mode, local clients only.
  handle server{::CreateNamedPipeW(
      name.c_str(), PIPE_ACCESS_INBOUND | FILE_FLAG_FIRST_PIPE_INSTANCE | (read_overlapped ? FILE_FLAG_OVERLAPPED : 0),
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, size, size, 0, nullptr)};
  if (!server) {
    ec = last_win_error();
    return {};
  }
  // FILE_READ_ATTRIBUTES lets the writer query the pipe (GetNamedPipeInfo).
  HANDLE client = ::CreateFileW(name.c_str(), GENERIC_WRITE | FILE_READ_ATTRIBUTES, 0, nullptr, OPEN_EXISTING,
                                write_overlapped ? FILE_FLAG_OVERLAPPED : FILE_ATTRIBUTE_NORMAL, nullptr);
  if (client == INVALID_HANDLE_VALUE) {
    ec = last_win_error();
    return {};
  }
  return {std::move(server), handle{client}};
} catch (...) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

void make_win_duplex_pipe(std::size_t capacity, handle& a, handle& b, std::error_code& ec) noexcept try {
  const std::wstring name = unique_pipe_name();
  const DWORD size = clamp_dword(capacity);
  handle server{::CreateNamedPipeW(
      name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE | FILE_FLAG_OVERLAPPED,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, size, size, 0, nullptr)};
  if (!server) {
    ec = last_win_error();
    return;
  }
  HANDLE client = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                                FILE_FLAG_OVERLAPPED, nullptr);
  if (client == INVALID_HANDLE_VALUE) {
    ec = last_win_error();
    return;
  }
  a = std::move(server);
  b = handle{client};
} catch (...) {
  ec = std::make_error_code(std::errc::not_enough_memory);
}

std::size_t get_pipe_capacity(native_handle_type h, std::error_code& ec) noexcept {
  DWORD out_size = 0;
  DWORD in_size = 0;
  if (!::GetNamedPipeInfo(h, nullptr, &out_size, &in_size, nullptr)) {
    ec = last_win_error();
    return 0;
  }
  return in_size != 0 ? in_size : out_size;
}

std::size_t set_pipe_capacity(native_handle_type, std::size_t, std::error_code& ec) noexcept {
  // A Windows pipe's buffer is fixed when it is created (pipe_options::capacity).
  ec = make_error_code(errc::not_supported);
  return 0;
}

// Windows has no per-user pipe accounting to protect.
bool take_pipe_budget(std::size_t) noexcept { return true; }
void give_pipe_budget(std::size_t) noexcept {}

}  // namespace detail

pipe_pair make_pipe(const pipe_options& options, std::error_code& ec) noexcept {
  ec.clear();
  if (options.nonblocking_read || options.nonblocking_write) {
    ec = make_error_code(errc::not_supported);  // see set_handle_nonblocking in io_windows.cpp
    return {};
  }
  // Both ends overlapped-capable: pipekit's own I/O works either way, and
  // deadlines and communicate() need it. Most programs expect synchronous
  // handles: ends for children (for_children) are made so.
  const bool overlapped = !options.for_children;
  detail::win_pipe_ends ends = detail::make_win_pipe(options.capacity, overlapped, overlapped, ec);
  if (ec) return {};
  return pipe_pair{handle_stream{std::move(ends.read_end)}, handle_stream{std::move(ends.write_end)}};
}

// Windows documents no atomicity for pipe writes between several writers.
std::size_t pipe_atomic_write_size() noexcept { return 0; }

std::size_t pipe_buffered_bytes(native_handle_type h, std::error_code& ec) noexcept {
  ec.clear();
  DWORD available = 0;
  if (!::PeekNamedPipe(h, nullptr, 0, nullptr, &available, nullptr)) {
    ec = detail::last_win_error();
    return 0;
  }
  return available;
}

}  // namespace pipekit
