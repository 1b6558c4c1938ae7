// `pipekit run`: what the option parsing (commands/run.cpp) hands to the part
// that runs the command, which is written once per OS (commands/run_posix.cpp,
// commands/run_windows.cpp).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/numbers.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"

namespace pipekit::cli {

struct run_options {
  seconds_d timeout{0};          // 0: no timeout
  seconds_d kill_after{5};       // between the signal and SIGKILL on timeout
  int signal = 15;               // sent on timeout (SIGTERM)
  bool preserve_status = false;  // on timeout, exit with the command's status
  bool foreground = false;       // the command stays in our process group; only it is timed out
  bool verbose = false;          // say on stderr which signal is sent
  std::string cwd;
  std::vector<std::string> env;
  std::string stdin_file;
  bool close_fds = false;  // POSIX: close inherited descriptors above 2 (default: pass them through)
  bool pty = false;
  std::vector<std::string> command;
};

// The deadline `d` from now; 0 or more than about 31 years: none.
deadline deadline_after(seconds_d d);
std::chrono::milliseconds to_milliseconds(seconds_d d);

// The command with --cwd, --env, --stdin and --foreground applied (--pty is
// the runner's).
command make_command(const run_options& o);

// --pty: the command's stdout and stderr (and stdin, without --stdin) on a
// new terminal, of `size` when ours is known.
void use_pty(command& cmd, const run_options& o, std::optional<terminal_size> size);

// Why a command could not start, in a shell's terms (125, 126, 127).
int spawn_failure_status(const spawn_error& e);

// Ends the command after its timeout passed, timeout(1)'s way: --signal to
// its group (to it alone with --foreground), SIGKILL after --kill-after,
// with --verbose's messages. Returns the status `pipekit run` exits with:
// 137 if SIGKILL was needed (or --signal KILL ended it), else the command's
// own status with --preserve-status, else 124.
int time_out(process& p, const run_options& o);

// Runs it; returns the exit status `pipekit run` reports.
int run_command(const run_options& o);

}  // namespace pipekit::cli
