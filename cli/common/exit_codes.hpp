// The exit statuses the subcommands of `pipekit` agree on.
#pragma once

namespace pipekit::cli {

inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;  // bad options or arguments
// `pipekit run`, like timeout(1) and env(1):
inline constexpr int exit_run_failed = 125;      // pipekit itself failed (bad option, --cwd, --stdin)
inline constexpr int exit_timed_out = 124;       // --timeout expired; the command's tree was terminated
inline constexpr int exit_killed = 137;          // --timeout expired and SIGKILL was needed (128 + 9)
inline constexpr int exit_cannot_execute = 126;  // found but not executable
inline constexpr int exit_not_found = 127;       // no such program
inline constexpr int exit_interrupted = 130;     // 128 + SIGINT, as shells report Ctrl-C

}  // namespace pipekit::cli
