#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "pipekit/error.hpp"
#include "pipekit/handle.hpp"

namespace pipekit {

handle& handle::operator=(handle&& other) noexcept {
  if (this != &other) {
    std::error_code ignored;
    close(ignored);
    h_ = other.release();
  }
  return *this;
}

handle::~handle() {
  std::error_code ignored;
  close(ignored);
}

void handle::close() {
  std::error_code ec;
  close(ec);
  detail::throw_if(ec, "close");
}

void handle::close(std::error_code& ec) noexcept {
  ec.clear();
  if (!valid()) return;
  // Linux (and POSIX 2024) release the descriptor even when close() reports
  // EINTR; retrying could close a descriptor another thread just received.
  if (::close(release()) != 0 && errno != EINTR) ec = detail::system_error_code(errno);
}

handle handle::duplicate() const {
  std::error_code ec;
  handle h = duplicate(ec);
  detail::throw_if(ec, "dup");
  return h;
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
