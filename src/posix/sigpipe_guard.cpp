#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "posix/nosignal_write.hpp"

namespace pipekit::detail {

ssize_t writev_with_sigpipe_blocked(int fd, const struct iovec* iov, int count, int& err) noexcept {
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
  ssize_t n;
  do {
    // One piece goes out with write(): writev() costs more for small frames.
    n = count == 1 ? ::write(fd, iov[0].iov_base, iov[0].iov_len) : ::writev(fd, iov, count);
  } while (n < 0 && errno == EINTR);
  err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    // The SIGPIPE this write raised is pending on this thread: take it.
    const struct timespec zero {};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  if (!caller_blocked) pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return n;
}

}  // namespace pipekit::detail
