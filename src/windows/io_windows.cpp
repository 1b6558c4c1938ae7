// Handle I/O on Windows. Pipes go through OVERLAPPED with an event: that
// works whether or not the handle was opened for overlapped I/O, and leaves
// room for deadlines (cancel the pending operation). Files and consoles use
// plain synchronous calls, since an OVERLAPPED carries a file offset.
#include <windows.h>

#include <algorithm>
#include <thread>

#include "pipekit/error.hpp"
#include "sys/io.hpp"
#include "windows/win_error.hpp"

namespace pipekit::detail {
namespace {

// One manual-reset event per thread for the wait on a pending operation.
HANDLE thread_event() noexcept {
  thread_local struct holder {
    HANDLE h = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    ~holder() {
      if (h != nullptr) ::CloseHandle(h);
    }
  } event;
  return event.h;
}

DWORD clamp_dword(std::size_t n) { return static_cast<DWORD>(std::min<std::size_t>(n, 0x7fffffff)); }

// Runs one ReadFile/WriteFile to completion; returns the bytes moved, or
// sets `error` to the Windows error.
template <class Call>
DWORD run_overlapped(HANDLE h, Call call, DWORD& error) noexcept {
  OVERLAPPED ov{};
  ov.hEvent = thread_event();
  DWORD n = 0;
  error = 0;
  if (!call(&ov)) {
    error = ::GetLastError();
    // ERROR_MORE_DATA (message mode) completed a read with part of a
    // message: its bytes are in the buffer and must be counted, not dropped.
    if (error != ERROR_IO_PENDING && error != ERROR_MORE_DATA) return 0;
    error = 0;
  }
  if (!::GetOverlappedResult(h, &ov, &n, TRUE)) error = ::GetLastError();
  return n;
}

}  // namespace

handle_kind classify_handle(native_handle_type h) noexcept {
  return ::GetFileType(h) == FILE_TYPE_PIPE ? handle_kind::pipe : handle_kind::other;
}

std::size_t read_handle(native_handle_type h, handle_kind kind, std::span<std::byte> buf,
                        std::error_code& ec) noexcept {
  DWORD error = 0;
  DWORD n = 0;
  if (kind == handle_kind::pipe) {
    n = run_overlapped(
        h, [&](OVERLAPPED* ov) { return ::ReadFile(h, buf.data(), clamp_dword(buf.size()), nullptr, ov); }, error);
  } else if (!::ReadFile(h, buf.data(), clamp_dword(buf.size()), &n, nullptr)) {
    error = ::GetLastError();
  }
  switch (error) {
    case 0: return n;
    // The writer is gone: end of stream, as read() returning 0 on POSIX.
    case ERROR_BROKEN_PIPE:
    case ERROR_HANDLE_EOF:
    case ERROR_PIPE_NOT_CONNECTED: return 0;
    // Message mode: the rest of the message stays readable.
    case ERROR_MORE_DATA: return n;
    default: ec = win_error(error); return 0;
  }
}

std::size_t write_handle(native_handle_type h, handle_kind kind, std::span<const std::byte> data,
                         std::error_code& ec) noexcept {
  DWORD error = 0;
  DWORD n = 0;
  if (kind == handle_kind::pipe) {
    n = run_overlapped(
        h, [&](OVERLAPPED* ov) { return ::WriteFile(h, data.data(), clamp_dword(data.size()), nullptr, ov); }, error);
  } else if (!::WriteFile(h, data.data(), clamp_dword(data.size()), &n, nullptr)) {
    error = ::GetLastError();
  }
  if (error != 0) {
    ec = win_error(error);  // ERROR_NO_DATA / ERROR_BROKEN_PIPE compare equal to std::errc::broken_pipe
    return 0;
  }
  return n;
}

bool wait_handle(native_handle_type h, readiness what, deadline until, std::error_code& ec) noexcept {
  // Windows pipes have no readiness notification short of a pending read;
  // for reads, PeekNamedPipe tells whether data (or end of stream) is there.
  // Writes are always "ready": a blocking write is how Windows waits.
  if (what == readiness::write) return true;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    DWORD available = 0;
    if (!::PeekNamedPipe(h, nullptr, 0, nullptr, &available, nullptr)) {
      const DWORD error = ::GetLastError();
      if (error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED) return true;  // EOF is ready
      if (error == ERROR_INVALID_FUNCTION) return true;  // not a pipe: files are always ready
      ec = win_error(error);
      return false;
    }
    if (available > 0) return true;
    const auto now = clock::now();
    if (now >= until) return false;
    std::this_thread::sleep_for(std::min<clock::duration>(pause, until - now));
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

void set_handle_nonblocking(native_handle_type, bool on, std::error_code& ec) noexcept {
  // PIPE_NOWAIT exists only for LAN Manager compatibility; pipekit uses
  // overlapped I/O and deadlines instead.
  if (on) ec = make_error_code(errc::not_supported);
}

bool handle_is_nonblocking(native_handle_type) noexcept { return false; }

std::size_t blocking_write_limit() noexcept { return static_cast<std::size_t>(-1); }

}  // namespace pipekit::detail
