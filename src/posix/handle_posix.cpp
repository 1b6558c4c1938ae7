#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "pipekit/error.hpp"
#include "pipekit/handle.hpp"

namespace pipekit {

void handle::close(std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) return;
  // Linux (and POSIX 2024) release the descriptor even when close() reports
  // EINTR; retrying could close a descriptor another thread just received.
  if (::close(release()) != 0 && errno != EINTR) ec = detail::system_error_code(errno);
}

handle handle::duplicate(std::error_code& ec) const noexcept {
  ec.clear();
  const int fd = ::fcntl(h_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ec = detail::system_error_code(errno);
    return {};
  }
  return handle{fd};
}

}  // namespace pipekit
