#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "posix/nosignal_write.hpp"
#include "posix/syscall.hpp"

namespace pipekit::detail {

ssize_t call_with_sigpipe_blocked(ssize_t (*op)(void* ctx), void* ctx, int& err) noexcept {
  sigset_t pipe_only;
  sigset_t old_mask;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  const bool caller_blocked = sigismember(&old_mask, SIGPIPE) == 1;
  // A caller that blocks SIGPIPE itself may have one pending already: that
  // one is the caller's and stays.
  bool was_pending = false;
  if (caller_blocked) {
    sigset_t pending;
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE) == 1;
  }
  const ssize_t n = posix::retry_eintr([&] { return op(ctx); });
  err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    // The SIGPIPE this call raised is pending on this thread: take it.
    const struct timespec zero {};
    (void)posix::retry_eintr([&] { return sigtimedwait(&pipe_only, nullptr, &zero); });
  }
  if (!caller_blocked) pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return n;
}

ssize_t writev_with_sigpipe_blocked(int fd, const struct iovec* iov, int count, int& err) noexcept {
  struct call {
    int fd;
    const struct iovec* iov;
    int count;
  } c{fd, iov, count};
  return call_with_sigpipe_blocked(
      [](void* ctx) -> ssize_t {
        const call& w = *static_cast<call*>(ctx);
        return posix::sys_writev_with(posix::syscall::write, w.iov, w.count, [fd = w.fd](const iovec* v, int n) {
          // One piece goes out with write(): writev() costs more for small frames.
          return n == 1 ? ::write(fd, v[0].iov_base, v[0].iov_len) : ::writev(fd, v, n);
        });
      },
      &c, err);
}

}  // namespace pipekit::detail
