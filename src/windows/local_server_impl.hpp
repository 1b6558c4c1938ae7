// Internal: the state of a Windows local server (the pending pipe instance
// and its security), shared by src/windows/local_windows.cpp and the
// portable members in src/local.cpp.
#pragma once

#include <windows.h>

#include <string>
#include <vector>

#include "pipekit/local.hpp"

namespace pipekit {

struct local_server::impl {
  std::wstring name;
  local_mode mode = local_mode::bytes;
  bool allow_remote = false;
  std::vector<unsigned char> acl;  // the DACL the security descriptor points to
  SECURITY_DESCRIPTOR sd{};
  SECURITY_ATTRIBUTES sa{};
  handle event;    // manual reset: signalled when a client connected to `pending`
  handle pending;  // the instance waiting for the next client
  OVERLAPPED ov{};
  bool created_first = false;
  bool connected_at_once = false;  // ConnectNamedPipe found a client already there

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    // The kernel writes into `ov` until the connect is cancelled and done.
    if (pending.is_open() && !connected_at_once) {
      DWORD n = 0;
      if (::CancelIoEx(pending.native_handle(), &ov) || ::GetLastError() != ERROR_NOT_FOUND)
        ::GetOverlappedResult(pending.native_handle(), &ov, &n, TRUE);
    }
  }

  // What a poller waits on for the next client (local_server::native_handle()).
  [[nodiscard]] native_handle_type wait_handle() const noexcept { return event.native_handle(); }
};

}  // namespace pipekit
