// Windows side of channels. A write to a pipe cannot be tried without
// blocking, so a send starts an overlapped write and waits for whichever
// comes first: the write's completion, the peer's data (a zero-byte read on
// the reading handle, which takes nothing), or the deadline (the write is
// cancelled; what the reader took before stands).
#include <windows.h>
#include <winternl.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "sys/channel_io.hpp"
#include "windows/overlapped.hpp"
#include "windows/win_error.hpp"
#include "windows/win_pipe.hpp"

namespace pipekit::detail {
namespace {

// A zero-byte read on the channel's reading handle while a write waits.
class peer_watch {
 public:
  explicit peer_watch(HANDLE event) noexcept : event_(event) {}
  peer_watch(const peer_watch&) = delete;
  peer_watch& operator=(const peer_watch&) = delete;
  ~peer_watch() { stop(); }

  // Starts watching `r` unless already. false: `r` is readable now (or at
  // its end, or failed): drain at once.
  bool start(HANDLE r) noexcept {
    if (pending_) return true;
    ::ResetEvent(event_);
    ov_ = OVERLAPPED{};
    ov_.hEvent = event_without_port_packet(event_);
    if (::ReadFile(r, &none_, 0, nullptr, &ov_)) return false;
    if (::GetLastError() != ERROR_IO_PENDING) return false;
    h_ = r;
    pending_ = true;
    return true;
  }
  [[nodiscard]] bool pending() const noexcept { return pending_; }
  [[nodiscard]] HANDLE event() const noexcept { return event_; }
  // The read completed (the event fired).
  void completed() noexcept {
    DWORD n = 0;
    ::GetOverlappedResult(h_, &ov_, &n, TRUE);
    pending_ = false;
  }
  void stop() noexcept {
    if (!pending_) return;
    DWORD n = 0;
    ::CancelIoEx(h_, &ov_);
    ::GetOverlappedResult(h_, &ov_, &n, TRUE);  // the kernel is done with ov_ after this
    pending_ = false;
  }

 private:
  HANDLE event_;
  HANDLE h_ = nullptr;
  OVERLAPPED ov_{};
  std::byte none_{};
  bool pending_ = false;
};

// Writes one piece with the deadline, draining the peer meanwhile. Returns
// the bytes written; `stop_ec` set when the waiter ended it.
std::size_t write_one(HANDLE w, std::span<const std::byte> data, deadline until, send_waiter& waiter, peer_watch& watch,
                      std::error_code& ec) noexcept {
  // Not run_overlapped()'s event: drain() reads through it while this
  // write is still pending.
  const HANDLE write_event = thread_io_event(io_event_slot::send_write);
  if (write_event == nullptr || watch.event() == nullptr) {
    ec = last_win_error();
    return 0;
  }
  ::ResetEvent(write_event);
  OVERLAPPED ov{};
  ov.hEvent = event_without_port_packet(write_event);
  if (!::WriteFile(w, data.data(), clamp_dword(data.size()), nullptr, &ov) && ::GetLastError() != ERROR_IO_PENDING) {
    ec = last_win_error();  // ERROR_NO_DATA / ERROR_BROKEN_PIPE compare equal to std::errc::broken_pipe
    return 0;
  }
  bool cancelled = false;
  for (;;) {
    if (::WaitForSingleObject(write_event, 0) == WAIT_OBJECT_0) break;
    deadline slice = until;
    const HANDLE r = waiter.drain_handle(slice);
    if (r != invalid_native_handle && !watch.start(r)) {
      waiter.drain();  // readable already
      continue;
    }
    HANDLE events[2] = {write_event, watch.event()};
    const DWORD count = watch.pending() && r != invalid_native_handle ? 2 : 1;
    const DWORD got = ::WaitForMultipleObjects(count, events, FALSE, wait_ms(slice));
    if (got == WAIT_OBJECT_0) break;
    if (got == WAIT_OBJECT_0 + 1) {
      watch.completed();
      if ((ec = waiter.stop())) {
        ::CancelIoEx(w, &ov);
        cancelled = true;
        break;
      }
      waiter.drain();
      continue;
    }
    if (got == WAIT_FAILED) {
      ec = last_win_error();
      ::CancelIoEx(w, &ov);
      cancelled = true;
      break;
    }
    if (clock::now() < until) continue;  // the slice passed, or the wait woke early
    ec = make_error_code(errc::timed_out);
    ::CancelIoEx(w, &ov);
    cancelled = true;
    break;
  }
  DWORD n = 0;
  if (!::GetOverlappedResult(w, &ov, &n, TRUE)) {
    const DWORD error = ::GetLastError();
    if (!(cancelled && error == ERROR_OPERATION_ABORTED)) ec = win_error(error);
  } else if (cancelled && n == data.size()) {
    ec.clear();  // it completed before the cancel took effect
  }
  return n;
}

}  // namespace

std::size_t write_pieces(native_handle_type w, handle_kind kind, std::span<std::span<const std::byte>> pieces,
                         deadline until, send_waiter& waiter, std::error_code& ec) noexcept {
  std::size_t total = 0;
  if (kind != handle_kind::overlapped_pipe) {
    // A handle opened for synchronous I/O (an inherited std handle, a
    // console, a file) cannot wait for two things: plain blocking writes.
    for (auto& piece : pieces) {
      while (!piece.empty()) {
        const std::size_t n = write_handle(w, kind, piece, ec);
        total += n;
        piece = piece.subspan(n);
        if (ec) return total;
      }
    }
    return total;
  }
  peer_watch watch(thread_io_event(io_event_slot::send_watch));
  for (auto& piece : pieces) {
    while (!piece.empty()) {
      const std::size_t n = write_one(w, piece, until, waiter, watch, ec);
      total += n;
      piece = piece.subspan(n);
      if (ec) return total;
    }
  }
  return total;
}

// Overlapped pipes need no mode switch: the deadline cancels the write.
bool writer_needs_nonblocking(handle_kind) noexcept { return false; }

void make_duplex_pair(handle& a, handle& b, std::error_code& ec) noexcept {
  make_win_duplex_pipe(default_pipe_capacity, a, b, ec);
}

// A Windows pipe has no half-close: close_send() needs one-way pipes there.
bool can_half_close(handle_kind) noexcept { return false; }

void shutdown_socket(native_handle_type, bool, bool, std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);  // pipekit makes no sockets on Windows
}

handle_access adopt_inherited_handle(native_handle_type h, std::error_code& ec) noexcept {
  DWORD flags = 0;
  if (h == nullptr || h == INVALID_HANDLE_VALUE || !::GetHandleInformation(h, &flags)) {
    ec = h == nullptr || h == INVALID_HANDLE_VALUE ? std::make_error_code(std::errc::bad_file_descriptor)
                                                   : last_win_error();
    return handle_access::read_write;
  }
  if ((flags & HANDLE_FLAG_INHERIT) != 0 && !::SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0)) ec = last_win_error();
  // The access the handle was opened with is only visible through the
  // native API; looked up at run time so that no import library is needed.
  using query_fn = NTSTATUS(NTAPI*)(HANDLE, OBJECT_INFORMATION_CLASS, PVOID, ULONG, PULONG);
  static const auto query = reinterpret_cast<query_fn>(
      reinterpret_cast<void*>(::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "NtQueryObject")));
  PUBLIC_OBJECT_BASIC_INFORMATION info{};
  if (query == nullptr || query(h, ObjectBasicInformation, &info, sizeof info, nullptr) != 0)
    return handle_access::read_write;
  const bool reads = (info.GrantedAccess & FILE_READ_DATA) != 0;
  const bool writes = (info.GrantedAccess & FILE_WRITE_DATA) != 0;
  if (reads && !writes) return handle_access::read;
  if (writes && !reads) return handle_access::write;
  return handle_access::read_write;
}

std::string handle_to_text(native_handle_type h) {
  return std::to_string(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h)));
}

// command::pass_handle() keeps the handle's value in the child on Windows.
std::string passed_handle_text(native_handle_type h, int) { return handle_to_text(h); }

bool handle_from_text(std::string_view text, native_handle_type& h) noexcept {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [p, err] = std::from_chars(text.data(), end, value);
  if (err != std::errc{} || p != end || text.empty() || value == 0) return false;
  h = reinterpret_cast<native_handle_type>(static_cast<std::uintptr_t>(value));
  return true;
}

}  // namespace pipekit::detail
