// `pipekit run`: what the option parsing (cmd_run.cpp) hands to the part
// that runs the command, which is written once per OS (run_posix.cpp,
// run_windows.cpp).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"

namespace pipekit::cli {

struct run_options {
  double timeout = 0;     // seconds; 0: no timeout
  double kill_after = 5;  // seconds between SIGTERM and SIGKILL on timeout
  std::string cwd;
  std::vector<std::string> env;
  std::string stdin_file;
  bool close_fds = false;  // POSIX: close inherited descriptors above 2 (default: pass them through)
  bool pty = false;
  std::vector<std::string> command;
};

// Longer than this is "never" (and keeps the conversions below in range).
// The deadline `seconds` from now; 0 or huge: none.
deadline deadline_after(double seconds);
std::chrono::milliseconds to_milliseconds(double seconds);

// The command with --cwd, --env and --stdin applied (--pty is the runner's).
command make_command(const run_options& o);

// Why a command could not start, in a shell's terms (125, 126, 127).
int spawn_failure_status(const spawn_error& e);

// Runs it; returns the exit status `pipekit run` reports.
int run_command(const run_options& o);

}  // namespace pipekit::cli
