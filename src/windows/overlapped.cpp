#include "windows/overlapped.hpp"

#include <winternl.h>

#include <algorithm>

#include "sys/io.hpp"

namespace pipekit::detail {

HANDLE thread_io_event(io_event_slot slot) noexcept {
  // Made on first use of each slot; closed when the thread ends.
  thread_local struct holder {
    HANDLE h[3] = {};
    ~holder() {
      for (HANDLE e : h)
        if (e != nullptr) ::CloseHandle(e);
    }
  } events;
  HANDLE& e = events.h[static_cast<int>(slot)];
  if (e == nullptr) e = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  return e;
}

DWORD wait_ms(deadline until) noexcept {
  const int ms = timeout_ms(until);
  return ms < 0 ? INFINITE : static_cast<DWORD>(ms);
}

bool is_overlapped_handle(HANDLE h) noexcept {
  // The mode is only visible through the native API (FileModeInformation);
  // looked up at run time so that no import library is needed.
  using query_fn = NTSTATUS(NTAPI*)(HANDLE, PIO_STATUS_BLOCK, PVOID, ULONG, FILE_INFORMATION_CLASS);
  static const auto query = reinterpret_cast<query_fn>(
      reinterpret_cast<void*>(::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "NtQueryInformationFile")));
  if (query == nullptr) return false;
  constexpr auto file_mode_information = static_cast<FILE_INFORMATION_CLASS>(16);
  constexpr ULONG synchronous_io = 0x10 | 0x20;  // FILE_SYNCHRONOUS_IO_ALERT | _NONALERT
  IO_STATUS_BLOCK io{};
  ULONG mode = 0;
  if (query(h, &io, &mode, sizeof mode, file_mode_information) != 0) return false;
  return (mode & synchronous_io) == 0;
}

bool is_message_pipe(HANDLE h) noexcept {
  DWORD flags = 0;
  return ::GetNamedPipeInfo(h, &flags, nullptr, nullptr, nullptr) && (flags & PIPE_TYPE_MESSAGE) != 0;
}

}  // namespace pipekit::detail
