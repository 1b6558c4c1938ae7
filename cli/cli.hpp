// What the subcommands of the `pipekit` command share: how each one hooks
// into the parser, and the exit codes they agree on.
//
// Each cmd_<name>.cpp adds one subcommand to the app with a callback that
// runs it and stores its exit status in `status`. Errors a subcommand does
// not handle itself propagate as exceptions to main(), which prints
// "pipekit: <what>" and exits with `exit_failure`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace pipekit::cli {

inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;  // bad options or arguments
// `pipekit run`, like timeout(1) and env(1):
inline constexpr int exit_run_failed = 125;      // pipekit itself failed (bad option, --cwd, --stdin)
inline constexpr int exit_timed_out = 124;       // --timeout expired; the command's tree was terminated
inline constexpr int exit_killed = 137;          // --timeout expired and SIGKILL was needed (128 + 9)
inline constexpr int exit_cannot_execute = 126;  // found but not executable
inline constexpr int exit_not_found = 127;       // no such program

CLI::App* add_limits(CLI::App& app, int& status);
// `after_dashes` holds the arguments that followed the first "--" on the
// command line; main() takes them out before the parser sees them.
CLI::App* add_run(CLI::App& app, const std::vector<std::string>& after_dashes, int& status);
CLI::App* add_tour(CLI::App& app, int& status);
// `pipekit msg send|recv ENDPOINT` (POSIX: channels are not on Windows yet).
CLI::App* add_msg(CLI::App& app, int& status);
// `pipekit fifo create|read|write PATH` (POSIX).
CLI::App* add_fifo(CLI::App& app, int& status);

// POSIX: puts /dev/null (close-on-exec) on each of descriptors 0, 1 and 2
// that is closed, before anything else is opened (cli/common/stdio_posix.cpp).
void reserve_standard_descriptors() noexcept;

// "64 KiB", "1 MiB", "4096 bytes": exact binary units when they divide evenly.
std::string format_bytes(std::uint64_t bytes);

}  // namespace pipekit::cli
