// Linux launcher: clone(CLONE_VM | CLONE_VFORK), what glibc's posix_spawn
// does, plus CLONE_PIDFD. The child borrows the parent's memory instead of
// copying its page tables, so spawning costs the same with 1 GiB in the
// parent as with 1 MiB; the parent sleeps until the child has exec'd or
// failed, and the failure travels back through shared memory.
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "posix/child_setup.hpp"
#include "posix/syscall.hpp"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace pipekit::detail {
namespace {

struct shared_state {
  const child_plan* plan;
  // Written by the child before it exits; read by the parent after vfork
  // semantics resumed it, so no further synchronisation is needed.
  child_failure failure;
};

__attribute__((no_sanitize("address", "undefined"))) int child_entry(void* arg) {
  auto* st = static_cast<shared_state*>(arg);
  st->failure = run_child(*st->plan);
  ::_exit(127);
}

constexpr std::size_t child_stack_size = 128 * 1024;

}  // namespace

launch_result launch_child(const child_plan& plan) noexcept {
  launch_result result;
  void* stack =
      ::mmap(nullptr, child_stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    result.launch_error = errno;
    return result;
  }
  const sigset_t old = block_all_signals();  // the child resets dispositions and unblocks

  shared_state st{&plan, {child_stage::none, 0}};
  int pidfd = -1;
  char* top = static_cast<char*>(stack) + child_stack_size;
  pid_t pid = ::clone(child_entry, top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &st, &pidfd);
  if (pid < 0 && errno == EINVAL) {
    // Kernels before 5.2 have no CLONE_PIDFD.
    pidfd = -1;
    pid = ::clone(child_entry, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &st);
  }
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, child_stack_size);

  if (pid < 0) {
    result.launch_error = clone_errno;
    return result;
  }
  if (st.failure.stage != child_stage::none) {
    // The child exited with 127 before exec: reap it now, it is no process
    // the caller will ever see.
    int status;
    (void)posix::retry_eintr([&] { return ::waitpid(pid, &status, 0); });
    if (pidfd >= 0) ::close(pidfd);
    result.failure = st.failure;
    return result;
  }
  result.pid = pid;
  result.pidfd = pidfd;
  return result;
}

}  // namespace pipekit::detail
