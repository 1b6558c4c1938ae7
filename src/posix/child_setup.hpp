// Internal: the code a freshly started child runs before exec. It runs
// between clone(CLONE_VM|CLONE_VFORK) (or fork) and execve, so it may only
// make async-signal-safe calls and must not allocate: everything it needs
// is prepared by the parent in a child_plan.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

namespace pipekit {
enum class spawn_stage : unsigned char;
}

namespace pipekit::detail {

struct fd_move {
  int source;  // a descriptor in the parent
  int target;  // the number it gets in the child
};

struct child_plan {
  const char* path = nullptr;  // resolved program path
  char* const* argv = nullptr;
  // execve's ENOEXEC fallback, as execvp does: {"/bin/sh", path, argv[1], ...}.
  char* const* shell_argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;  // nullptr: stay
  const fd_move* moves = nullptr;
  int move_count = 0;
  const int* kept = nullptr;  // targets >= 3, sorted ascending; all others >= 3 are closed
  int kept_count = 0;
  int max_fd = 0;            // descriptors to close when close_range() is missing
  bool close_others = true;  // close every descriptor >= 3 but `kept` (else leave them to exec)
  bool new_group = false;
  bool new_session = false;
  int controlling_tty = -1;  // target descriptor to make the controlling terminal
  int foreground_tty = -1;   // a descriptor of the parent's terminal for the new group to take
  bool parent_death_signal = false;
  pid_t parent_pid = 0;
  int keep_open = -1;  // one more descriptor to leave open (the fork launcher's report pipe)
};

// Stages reported with the errno when the child fails before exec.
enum class child_stage : int { none = 0, session, group, foreground, parent_death, dup, close, chdir, tty, exec };

struct child_failure {
  child_stage stage;
  int error;
};

// Sets up the child and execs. Returns only on failure.
child_failure run_child(const child_plan& plan) noexcept;

// The public name of the step (several child steps share one).
spawn_stage public_stage(child_stage s) noexcept;

struct launch_result {
  pid_t pid = -1;
  int pidfd = -1;           // -1 where pidfds are not available
  child_failure failure{};  // stage none on success
  int launch_error = 0;     // clone/fork itself failed
};

// What both launchers do first: blocks every signal on the calling thread and
// returns the mask to put back in the parent. No handler of ours may run in
// the child before run_child() resets the dispositions (under clone(CLONE_VM)
// it would run on our memory), and tcsetpgrp() must not stop it.
inline sigset_t block_all_signals() noexcept {
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  return old;
}

// Starts a child that runs run_child(plan). One implementation per platform:
// src/linux/launch_clone.cpp, src/posix/launch_fork.cpp.
launch_result launch_child(const child_plan& plan) noexcept;

}  // namespace pipekit::detail
