#include <windows.h>

#include "pipekit/error.hpp"
#include "pipekit/limits.hpp"
#include "pipekit/pipe.hpp"
#include "windows/win_error.hpp"

namespace pipekit {

system_limits query_limits() {
  std::error_code ec;
  system_limits l = query_limits(ec);
  detail::throw_if(ec, "query_limits");
  return l;
}

system_limits query_limits(std::error_code& ec) noexcept {
  ec.clear();
  system_limits l;
  // What CreatePipe gives when asked for no particular size.
  HANDLE r = nullptr;
  HANDLE w = nullptr;
  if (!::CreatePipe(&r, &w, nullptr, 0)) {
    ec = detail::last_win_error();
    return l;
  }
  DWORD out_size = 0;
  DWORD in_size = 0;
  if (::GetNamedPipeInfo(r, nullptr, &out_size, &in_size, nullptr)) l.pipe_default_capacity = in_size;
  ::CloseHandle(r);
  ::CloseHandle(w);
  l.pipe_atomic_write = pipe_atomic_write_size();
  // No per-user pipe accounting, no configured maximum, and handle and
  // process counts are bounded by memory rather than by a limit: nullopt.
  return l;
}

}  // namespace pipekit
