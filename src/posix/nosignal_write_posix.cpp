// POSIX systems without a per-write "no SIGPIPE" flag: the guard.
#include "posix/nosignal_write.hpp"

namespace pipekit::detail {

ssize_t writev_nosignal(int fd, const struct iovec* iov, int count, int& err) noexcept {
  return writev_with_sigpipe_blocked(fd, iov, count, err);
}

}  // namespace pipekit::detail
