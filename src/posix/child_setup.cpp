#include "posix/child_setup.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "pipekit/process.hpp"

#if defined(__linux__)
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

namespace pipekit::detail {

namespace {

// close_range() where the kernel has it, else one close() per descriptor.
void close_range_raw(int first, unsigned last, int max_fd) noexcept {
  if (static_cast<unsigned>(first) > last) return;
#if defined(__linux__) && defined(SYS_close_range)
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), last, 0) == 0) return;
#endif
  const unsigned stop = last < static_cast<unsigned>(max_fd) ? last : static_cast<unsigned>(max_fd);
  for (unsigned fd = static_cast<unsigned>(first); fd <= stop; ++fd) ::close(static_cast<int>(fd));
}

void close_from_to(int first, unsigned last, int max_fd, int keep) noexcept {
  if (keep >= first && static_cast<unsigned>(keep) <= last) {
    close_range_raw(first, static_cast<unsigned>(keep - 1), max_fd);
    close_range_raw(keep + 1, last, max_fd);
  } else {
    close_range_raw(first, last, max_fd);
  }
}

}  // namespace

// No sanitizer instrumentation: this runs on a borrowed stack while the
// parent is suspended (vfork semantics).
__attribute__((no_sanitize("address", "undefined"))) child_failure run_child(const child_plan& plan) noexcept {
  // Handlers installed by the parent must not run in the child: they could
  // touch the parent's memory, which the child shares until exec. Ignored
  // signals stay ignored, except SIGPIPE and SIGXFSZ, which programs expect
  // at their default (as Python's restore_signals does).
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;
    const bool custom = old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
    if (custom || ((sig == SIGPIPE || sig == SIGXFSZ) && old.sa_handler == SIG_IGN)) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(sig, &dfl, nullptr);
    }
  }

  if (plan.new_session) {
    if (::setsid() < 0) return {child_stage::session, errno};
  } else if (plan.new_group) {
    if (::setpgid(0, 0) != 0) return {child_stage::group, errno};
    // Every signal is still blocked here, so taking the terminal from the
    // background does not stop us with SIGTTOU.
    if (plan.foreground_tty >= 0 && ::tcsetpgrp(plan.foreground_tty, ::getpid()) != 0)
      return {child_stage::foreground, errno};
  }

#if defined(__linux__)
  if (plan.parent_death_signal) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return {child_stage::parent_death, errno};
    // The parent may have died before prctl took effect.
    if (::getppid() != plan.parent_pid) ::_exit(127);
  }
#endif

  // Two passes so that no source is overwritten before it is copied: first
  // every source moves above all targets, then onto its target.
  int highest_target = 2;
  for (int i = 0; i < plan.move_count; ++i)
    if (plan.moves[i].target > highest_target) highest_target = plan.moves[i].target;
  int temp[64];
  if (plan.move_count > 64) return {child_stage::dup, EMFILE};
  for (int i = 0; i < plan.move_count; ++i) {
    temp[i] = ::fcntl(plan.moves[i].source, F_DUPFD_CLOEXEC, highest_target + 1);
    if (temp[i] < 0) return {child_stage::dup, errno};
  }
  for (int i = 0; i < plan.move_count; ++i) {
    // dup2 leaves FD_CLOEXEC clear on the target: it survives exec.
    if (::dup2(temp[i], plan.moves[i].target) < 0) return {child_stage::dup, errno};
  }

  // Close everything at 3 and above that was not passed on purpose (unless
  // inherited descriptors are to stay: exec then closes only close-on-exec
  // ones, among them our temporaries above).
  if (plan.close_others) {
    int next = 3;
    for (int i = 0; i < plan.kept_count; ++i) {
      if (plan.kept[i] > next)
        close_from_to(next, static_cast<unsigned>(plan.kept[i] - 1), plan.max_fd, plan.keep_open);
      next = plan.kept[i] + 1;
    }
    close_from_to(next, ~0U, plan.max_fd, plan.keep_open);
  }

  if (plan.controlling_tty >= 0) {
    if (::ioctl(plan.controlling_tty, TIOCSCTTY, 0) != 0) return {child_stage::tty, errno};
  }

  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) return {child_stage::chdir, errno};

  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  ::execve(plan.path, plan.argv, plan.envp);
  // An executable file the kernel cannot run (no "#!" line, no known binary
  // format) is a shell script to POSIX: execvp(), sh and timeout(1) run it
  // with /bin/sh.
  if (errno == ENOEXEC && plan.shell_argv != nullptr) {
    ::execve(plan.shell_argv[0], plan.shell_argv, plan.envp);
    errno = ENOEXEC;  // what failed is the program itself, not /bin/sh
  }
  return {child_stage::exec, errno};
}

spawn_stage public_stage(child_stage s) noexcept {
  switch (s) {
    case child_stage::none: return spawn_stage::none;
    case child_stage::session: return spawn_stage::session;
    case child_stage::group: return spawn_stage::group;
    case child_stage::foreground: return spawn_stage::terminal;
    case child_stage::parent_death: return spawn_stage::parent_death;
    case child_stage::dup:
    case child_stage::close: return spawn_stage::descriptors;
    case child_stage::chdir: return spawn_stage::chdir;
    case child_stage::tty: return spawn_stage::terminal;
    case child_stage::exec: return spawn_stage::exec;
  }
  return spawn_stage::launch;
}

}  // namespace pipekit::detail
