// Internal: overlapped operations on Windows with deadlines, and the facts
// about a handle that decide how pipekit waits on it.
#pragma once

#include <windows.h>

#include <cstddef>

#include "pipekit/deadline.hpp"

namespace pipekit::detail {

// Manual-reset events owned by the calling thread, one per operation it may
// have in flight at once. Slot 0 is run_overlapped()'s; a caller that keeps
// an operation pending while it calls code that uses run_overlapped() (a
// channel's send drains the peer meanwhile) takes the other slots.
enum class io_event_slot { run, send_write, send_watch };
HANDLE thread_io_event(io_event_slot slot = io_event_slot::run) noexcept;

// ReadFile/WriteFile take a DWORD size; pipes move at most this per call.
inline DWORD clamp_dword(std::size_t n) noexcept { return static_cast<DWORD>(n < 0x7fffffff ? n : 0x7fffffff); }

// The value for OVERLAPPED.hEvent: `event` with its low bit set. The
// operation still signals the event, but queues no packet to a completion
// port the handle may be bound to (a poller binds pipe handles to its port,
// and a packet for an OVERLAPPED that lived on a stack would be noise there).
inline HANDLE event_without_port_packet(HANDLE event) noexcept {
  return reinterpret_cast<HANDLE>(reinterpret_cast<ULONG_PTR>(event) | 1);
}

// Milliseconds for WaitFor*: INFINITE for no_deadline.
DWORD wait_ms(deadline until) noexcept;

// True when `h` was opened for overlapped I/O (no FILE_SYNCHRONOUS_IO_*
// mode): its operations can be left pending and cancelled. An overlapped
// operation on a synchronous handle simply blocks.
bool is_overlapped_handle(HANDLE h) noexcept;

// True for a pipe whose server end was created in message mode. A zero-byte
// read would consume an empty message there, so readiness is polled.
bool is_message_pipe(HANDLE h) noexcept;

struct overlapped_result {
  DWORD bytes = 0;         // what moved, also when cancelled part-way
  DWORD error = 0;         // 0, ERROR_MORE_DATA (message mode), or the failure
  bool timed_out = false;  // cancelled at `until` (then error is 0)
};

// Starts one operation through `start(OVERLAPPED*)` (ReadFile, WriteFile or
// ConnectNamedPipe) and waits for it until `until`, then cancels it. What
// completed before the cancel took effect stands.
template <class Start>
overlapped_result run_overlapped(HANDLE h, Start start, deadline until) noexcept {
  overlapped_result r;
  const HANDLE event = thread_io_event();
  if (event == nullptr) {
    r.error = ::GetLastError();
    return r;
  }
  ::ResetEvent(event);
  OVERLAPPED ov{};
  ov.hEvent = event_without_port_packet(event);
  bool cancelled = false;
  if (!start(&ov)) {
    const DWORD error = ::GetLastError();
    if (error == ERROR_MORE_DATA) {
      // Completed at once with part of a message: its bytes are in the
      // buffer and must be counted, not dropped.
      ::GetOverlappedResult(h, &ov, &r.bytes, FALSE);
      r.error = error;
      return r;
    }
    if (error != ERROR_IO_PENDING) {
      r.error = error;
      return r;
    }
    while (until != no_deadline) {
      const DWORD w = ::WaitForSingleObject(event, wait_ms(until));
      if (w == WAIT_OBJECT_0) break;
      if (w == WAIT_TIMEOUT && clock::now() < until) continue;  // woke early (rounding)
      ::CancelIoEx(h, &ov);
      cancelled = true;
      break;
    }
  }
  if (!::GetOverlappedResult(h, &ov, &r.bytes, TRUE)) r.error = ::GetLastError();
  if (cancelled && r.error == ERROR_OPERATION_ABORTED) {
    r.error = 0;
    r.timed_out = true;
  }
  return r;
}

}  // namespace pipekit::detail
