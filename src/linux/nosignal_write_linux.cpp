// Linux 6.18 added RWF_NOSIGNAL: pwritev2() with it reports EPIPE without
// raising SIGPIPE, one system call instead of the guard's three. Older
// kernels reject the flag (EOPNOTSUPP), and so do files whose driver has no
// write_iter; both take the guard.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "posix/nosignal_write.hpp"
#include "posix/syscall.hpp"

namespace pipekit::detail {
namespace {

// From the kernel's include/uapi/linux/fs.h (glibc 2.36 does not know it).
constexpr int rwf_nosignal = 0x00000100;

// Asked once, on a private pipe: does this kernel know the flag?
bool kernel_has_rwf_nosignal() noexcept {
  static const bool known = [] {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
    char byte = 0;
    struct iovec one {
      &byte, 1
    };
    const bool ok = ::pwritev2(p[1], &one, 1, -1, rwf_nosignal) == 1;
    ::close(p[0]);
    ::close(p[1]);
    return ok;
  }();
  return known;
}

}  // namespace

ssize_t writev_nosignal(int fd, const struct iovec* iov, int count, int& err) noexcept {
  if (kernel_has_rwf_nosignal()) {
    const ssize_t n = posix::retry_eintr([&] {
      return posix::sys_writev_with(posix::syscall::write, iov, count, [fd](const iovec* v, int c) {
        return ::pwritev2(fd, v, c, -1, rwf_nosignal);  // offset -1: the file position, as writev()
      });
    });
    if (n >= 0 || errno != EOPNOTSUPP) {
      err = errno;
      return n;
    }
  }
  return writev_with_sigpipe_blocked(fd, iov, count, err);
}

}  // namespace pipekit::detail
