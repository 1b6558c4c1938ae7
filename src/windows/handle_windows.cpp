#include <windows.h>

#include "pipekit/error.hpp"
#include "pipekit/handle.hpp"
#include "windows/win_error.hpp"

namespace pipekit {

void handle::close(std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) return;
  if (!::CloseHandle(release())) ec = detail::last_win_error();
}

handle handle::duplicate(std::error_code& ec) const noexcept {
  ec.clear();
  HANDLE out = nullptr;
  const HANDLE self = ::GetCurrentProcess();
  if (!::DuplicateHandle(self, h_, self, &out, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
    ec = detail::last_win_error();
    return {};
  }
  return handle{out};
}

}  // namespace pipekit
