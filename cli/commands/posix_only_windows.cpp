// Windows: the commands the table marks POSIX-only (tour, fifo). main() never
// sets them up here (their availability says so); these definitions only let
// the one table link on every system.
#include <stdexcept>

#include "commands/commands.hpp"

namespace pipekit::cli {

void setup_tour(CLI::App&, command_context&) { throw std::logic_error("pipekit tour is not available on Windows"); }
void setup_fifo(CLI::App&, command_context&) { throw std::logic_error("pipekit fifo is not available on Windows"); }

}  // namespace pipekit::cli
