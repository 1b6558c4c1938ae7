// Portable POSIX launcher: fork, with a close-on-exec pipe that carries the
// child's failure back (it closes unread when exec succeeds). Used where
// clone(CLONE_VM) is unavailable, and in ThreadSanitizer builds, whose
// runtime cannot follow a child that shares the parent's memory.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "posix/child_setup.hpp"
#include "posix/syscall.hpp"

namespace pipekit::detail {

launch_result launch_child(const child_plan& plan) noexcept {
  launch_result result;
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    result.launch_error = errno;
    return result;
  }
  const sigset_t old = block_all_signals();
  const pid_t pid = ::fork();
  const int fork_errno = errno;
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    result.launch_error = fork_errno;
    ::close(report[0]);
    ::close(report[1]);
    return result;
  }
  if (pid == 0) {
    ::close(report[0]);
    // Move the report pipe above every target so the descriptor shuffle
    // cannot overwrite it, and tell run_child to leave it open.
    int highest = 2;
    for (int i = 0; i < plan.move_count; ++i)
      if (plan.moves[i].target > highest) highest = plan.moves[i].target;
    child_plan mine = plan;
    mine.keep_open = ::fcntl(report[1], F_DUPFD_CLOEXEC, highest + 1);
    const child_failure f = mine.keep_open < 0 ? child_failure{child_stage::dup, errno} : run_child(mine);
    [[maybe_unused]] const ssize_t w = ::write(mine.keep_open < 0 ? report[1] : mine.keep_open, &f, sizeof f);
    ::_exit(127);
  }
  ::close(report[1]);
  child_failure f{};
  const ssize_t n = posix::retry_eintr([&] { return ::read(report[0], &f, sizeof f); });
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof f)) {
    int status;
    (void)posix::retry_eintr([&] { return ::waitpid(pid, &status, 0); });
    result.failure = f;
    return result;
  }
  result.pid = pid;
#if defined(__linux__) && defined(SYS_pidfd_open)
  // The clone launcher gets a pidfd from clone itself; here pidfd_open gives
  // the same (the child is ours and unreaped, so the pid cannot be reused).
  result.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (result.pidfd >= 0) ::fcntl(result.pidfd, F_SETFD, FD_CLOEXEC);
#endif
  return result;
}

}  // namespace pipekit::detail
