// The POSIX seam: the one EINTR retry (retry_eintr), and the system calls
// of the data paths (streams, channels, communicate, the pollers) made
// through functions a test can make fail: EINTR, EAGAIN, ENOMEM, short
// reads and writes, as {fmt}'s posix-mock tests do. The faults apply to the
// thread that installed them only, so a test disturbs no other thread, and
// the check costs one thread-local load when none is installed.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace pipekit::detail::posix {

// Calls `call` again while it fails with EINTR (returns -1 with errno
// EINTR); returns its last result, errno as that call left it. Not for
// close(): Linux releases the descriptor even when close() reports EINTR.
template <class Call>
auto retry_eintr(Call call) noexcept(noexcept(call())) {
  for (;;) {
    auto r = call();
    if (r != -1 || errno != EINTR) return r;
  }
}

// The system calls a fault_injector sees.
enum class syscall { read, write, recv, send, wait };

// What a test installs. before() is asked before each call: return 0 to let
// it run, or an errno to fail it with instead (it then does nothing).
// `size` is the bytes the call would move; lowering it makes the call move
// at most that many (a short read or write).
class fault_injector {
 public:
  virtual int before(syscall call, std::size_t& size) noexcept = 0;

 protected:
  ~fault_injector() = default;
};

// The calling thread's injector; nullptr (none) unless a test set it.
inline constinit thread_local fault_injector* current_fault_injector = nullptr;

namespace seam {

// 0, or the errno an injected fault fails the call with.
inline int inject(syscall call, std::size_t& size) noexcept {
  fault_injector* f = current_fault_injector;
  if (f == nullptr) [[likely]]
    return 0;
  return f->before(call, size);
}

// `iov` cut to `limit` bytes in `storage` (room for `count` entries);
// returns the new count.
inline int cut_iov(const iovec* iov, int count, std::size_t limit, iovec* storage) noexcept {
  int n = 0;
  for (int i = 0; i < count && limit > 0; ++i, ++n) {
    storage[i] = iov[i];
    storage[i].iov_len = std::min(storage[i].iov_len, limit);
    limit -= storage[i].iov_len;
  }
  return n == 0 ? 1 : n;  // a zero-byte write stays a write
}

inline std::size_t total(const iovec* iov, int count) noexcept {
  std::size_t t = 0;
  for (int i = 0; i < count; ++i) t += iov[i].iov_len;
  return t;
}

}  // namespace seam

inline ssize_t sys_read(int fd, void* buf, std::size_t n) noexcept {
  if (const int err = seam::inject(syscall::read, n)) {
    errno = err;
    return -1;
  }
  return ::read(fd, buf, n);
}

inline ssize_t sys_recv(int fd, void* buf, std::size_t n, int flags) noexcept {
  if (const int err = seam::inject(syscall::recv, n)) {
    errno = err;
    return -1;
  }
  return ::recv(fd, buf, n, flags);
}

inline ssize_t sys_send(int fd, const void* buf, std::size_t n, int flags) noexcept {
  if (const int err = seam::inject(syscall::send, n)) {
    errno = err;
    return -1;
  }
  return ::send(fd, buf, n, flags);
}

// write() for one piece, writev() for more; `call` is what the injector sees.
// `pwritev` is the real call to make (writev, or pwritev2 with flags).
template <class Writev>
ssize_t sys_writev_with(syscall call, const iovec* iov, int count, Writev real) noexcept {
  if (current_fault_injector == nullptr) [[likely]]
    return real(iov, count);
  const std::size_t want = seam::total(iov, count);
  std::size_t allowed = want;
  if (const int err = seam::inject(call, allowed)) {
    errno = err;
    return -1;
  }
  if (allowed >= want) return real(iov, count);
  iovec storage[1024];
  const int n = seam::cut_iov(iov, std::min(count, 1024), allowed, storage);
  return real(storage, n);
}

inline ssize_t sys_sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return sys_writev_with(syscall::send, msg->msg_iov, static_cast<int>(msg->msg_iovlen),
                         [&](const iovec* iov, int count) {
                           msghdr m = *msg;
                           m.msg_iov = const_cast<iovec*>(iov);
                           m.msg_iovlen = static_cast<decltype(m.msg_iovlen)>(count);
                           return ::sendmsg(fd, &m, flags);
                         });
}

// poll() and epoll_wait() go through this: EINTR here is what a signal does.
inline int inject_wait() noexcept {
  std::size_t none = 0;
  return seam::inject(syscall::wait, none);
}

inline int sys_poll(pollfd* fds, nfds_t n, int timeout) noexcept {
  if (const int err = inject_wait()) {
    errno = err;
    return -1;
  }
  return ::poll(fds, n, timeout);
}

}  // namespace pipekit::detail::posix
