// The subcommands of `pipekit`, as main()'s command table lists them.
//
// Each commands/<name>.cpp has one setup function: main() makes the
// subcommand (name and summary from the table) and hands it over; setup adds
// the options, sub-subcommands and the callback that runs the command and
// stores its exit status in `ctx.status` (CLI11 calls it from parse()).
// Errors a command does not handle itself propagate as exceptions to main(),
// which prints "pipekit: <what>" and exits with the table's failure status.
#pragma once

#include <string>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/platform.hpp"

namespace CLI {
class App;
}

namespace pipekit::cli {

struct command_context {
  // The arguments that followed the first "--" on the command line (main()
  // takes them out before the parser sees them): a command line for `run`.
  std::vector<std::string> after_dashes;
  int status = 0;  // what pipekit exits with
};

using setup_function = void (*)(CLI::App& sub, command_context& ctx);

struct command_entry {
  const char* name;
  const char* summary;
  setup_function setup;
  platforms available = platforms::all;
  int usage_status = exit_usage;      // a bad option or argument
  int failure_status = exit_failure;  // an error the command did not handle
  bool takes_command_line = false;    // the arguments after "--" are its
};

void setup_limits(CLI::App& sub, command_context& ctx);
void setup_run(CLI::App& sub, command_context& ctx);
void setup_pipe(CLI::App& sub, command_context& ctx);
void setup_fanin(CLI::App& sub, command_context& ctx);
void setup_fanout(CLI::App& sub, command_context& ctx);
void setup_tour(CLI::App& sub, command_context& ctx);  // POSIX
void setup_msg(CLI::App& sub, command_context& ctx);
void setup_fifo(CLI::App& sub, command_context& ctx);  // POSIX

}  // namespace pipekit::cli
