// Handle I/O on Windows. Pipes go through OVERLAPPED (see overlapped.hpp):
// that works whether or not the handle was opened for overlapped I/O, and on
// an overlapped handle it gives deadlines by cancelling the operation.
// Files and consoles use plain synchronous calls, since an OVERLAPPED
// carries a file offset.
#include <windows.h>

#include <algorithm>
#include <thread>

#include "pipekit/error.hpp"
#include "sys/io.hpp"
#include "windows/overlapped.hpp"
#include "windows/win_error.hpp"

namespace pipekit::detail {
namespace {

bool is_pipe(handle_kind kind) { return kind == handle_kind::pipe || kind == handle_kind::overlapped_pipe; }

// A read's Windows error as pipekit reports it: the writer gone is the end
// of the stream (0 bytes, no error), as read() returning 0 on POSIX.
std::size_t finish_read(DWORD error, DWORD n, std::error_code& ec) noexcept {
  switch (error) {
    case 0: return n;
    case ERROR_BROKEN_PIPE:
    case ERROR_HANDLE_EOF:
    case ERROR_PIPE_NOT_CONNECTED: return 0;
    // Message mode: the rest of the message stays readable.
    case ERROR_MORE_DATA: return n;
    default: ec = win_error(error); return 0;
  }
}

std::size_t finish_write(DWORD error, DWORD n, std::error_code& ec) noexcept {
  if (error != 0) {
    ec = win_error(error);  // ERROR_NO_DATA / ERROR_BROKEN_PIPE compare equal to std::errc::broken_pipe
    return 0;
  }
  return n;
}

// Readiness by asking PeekNamedPipe, with a growing pause: for synchronous
// handles (a pending zero-byte read would block) and message-mode pipes.
bool poll_readable(HANDLE h, deadline until, std::error_code& ec) noexcept {
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

}  // namespace

handle_kind classify_handle(native_handle_type h) noexcept {
  if (::GetFileType(h) != FILE_TYPE_PIPE) return handle_kind::other;
  return is_overlapped_handle(h) ? handle_kind::overlapped_pipe : handle_kind::pipe;
}

std::size_t read_handle(native_handle_type h, handle_kind kind, std::span<std::byte> buf,
                        std::error_code& ec) noexcept {
  if (is_pipe(kind)) {
    const overlapped_result r = run_overlapped(
        h, [&](OVERLAPPED* ov) { return ::ReadFile(h, buf.data(), clamp_dword(buf.size()), nullptr, ov); },
        no_deadline);
    return finish_read(r.error, r.bytes, ec);
  }
  DWORD n = 0;
  if (!::ReadFile(h, buf.data(), clamp_dword(buf.size()), &n, nullptr)) return finish_read(::GetLastError(), n, ec);
  return n;
}

std::size_t write_handle(native_handle_type h, handle_kind kind, std::span<const std::byte> data,
                         std::error_code& ec) noexcept {
  if (is_pipe(kind)) {
    const overlapped_result r = run_overlapped(
        h, [&](OVERLAPPED* ov) { return ::WriteFile(h, data.data(), clamp_dword(data.size()), nullptr, ov); },
        no_deadline);
    return finish_write(r.error, r.bytes, ec);
  }
  DWORD n = 0;
  if (!::WriteFile(h, data.data(), clamp_dword(data.size()), &n, nullptr)) return finish_write(::GetLastError(), 0, ec);
  return n;
}

bool read_handle_until(native_handle_type h, handle_kind kind, std::span<std::byte> buf, deadline until, std::size_t& n,
                       std::error_code& ec) noexcept {
  if (kind != handle_kind::overlapped_pipe) return false;
  const overlapped_result r = run_overlapped(
      h, [&](OVERLAPPED* ov) { return ::ReadFile(h, buf.data(), clamp_dword(buf.size()), nullptr, ov); }, until);
  if (r.timed_out && r.bytes == 0) {
    ec = make_error_code(errc::timed_out);
    n = 0;
    return true;
  }
  n = finish_read(r.error, r.bytes, ec);
  return true;
}

bool write_handle_until(native_handle_type h, handle_kind kind, std::span<const std::byte> data, deadline until,
                        std::size_t& n, std::error_code& ec) noexcept {
  // Windows cannot say when a pipe has room, so a write is started and
  // cancelled at the deadline; what the reader took before that counts.
  if (kind != handle_kind::overlapped_pipe) return false;
  const overlapped_result r = run_overlapped(
      h, [&](OVERLAPPED* ov) { return ::WriteFile(h, data.data(), clamp_dword(data.size()), nullptr, ov); }, until);
  if (r.timed_out && r.bytes == 0) {
    ec = make_error_code(errc::timed_out);
    n = 0;
    return true;
  }
  n = finish_write(r.error, r.bytes, ec);
  return true;
}

bool wait_handle(native_handle_type h, events what, deadline until, std::error_code& ec) noexcept {
  // Windows pipes have no write readiness: a write with a deadline is
  // cancelled instead (write_handle_until), and a blocking write is how
  // Windows waits. So writes are always "ready".
  if (any(what & events::writable)) return true;
  DWORD available = 0;
  if (::PeekNamedPipe(h, nullptr, 0, nullptr, &available, nullptr) && available > 0) return true;
  if (::GetFileType(h) != FILE_TYPE_PIPE) return true;  // files and consoles: always ready
  if (!is_overlapped_handle(h) || is_message_pipe(h)) return poll_readable(h, until, ec);
  // A zero-byte read completes when data (or the end) arrives and takes
  // nothing: the event-driven wait.
  std::byte none{};
  const overlapped_result r = run_overlapped(
      h, [&](OVERLAPPED* ov) { return ::ReadFile(h, &none, 0, nullptr, ov); }, until);
  if (r.timed_out) return false;
  switch (r.error) {
    case 0:
    case ERROR_MORE_DATA:
    case ERROR_BROKEN_PIPE:
    case ERROR_HANDLE_EOF:
    case ERROR_PIPE_NOT_CONNECTED: return true;  // the next read reports what is there
    default: ec = win_error(r.error); return false;
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
