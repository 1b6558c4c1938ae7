// pipekit: the command-line face of the library.
//
//   pipekit --version
//   pipekit help [CMD [SUBCMD]]
//   pipekit limits [--json]
//   pipekit run [--timeout DURATION] [-k DURATION] [-s SIG] [--preserve-status] [--foreground] [-v]
//               [--cwd DIR] [--env K=V]... [--stdin FILE] [--pty] -- CMD [ARG...]
//   pipekit pipe [--stats] [--json] [-i FILE] [-o FILE] [--timeout DURATION] [-k DURATION] STAGE...
//   pipekit fanout [--scatter [--ready] [--frames]] [-o PREFIX] [--tag] [--drop-slow DURATION] STAGE...
//   pipekit fanin [--tag] [--max-line BYTES] [--timeout DURATION] [--stats] STAGE...
//   pipekit tour
//   pipekit msg send|recv ENDPOINT [--authkey KEY | --authkey-file FILE] [--timeout DURATION]
//               [--max-size BYTES] [-0 | --netstring] [--count N]
//   pipekit fifo create PATH [--mode OCTAL] | read PATH [--timeout DURATION] [--keep-open]
//               | write PATH [--timeout DURATION] [--stream]
//
// One convention for every subcommand: a usage error prints "pipekit: <what>"
// and a hint on stderr and exits 2, except `run`, which exits 125 as
// timeout(1) does (its own status space is the command's).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "commands/commands.hpp"
#include "common/errors.hpp"
#include "common/platform.hpp"
#include "pipekit/version.hpp"

namespace {

namespace cli = pipekit::cli;

// The commands, in the order `pipekit --help` lists them.
const cli::command_entry command_table[] = {
    {"limits", "Print pipe sizes and descriptor and process limits", cli::setup_limits},
    {"run", "Run a command; exit with its status (124 on timeout, like timeout(1))", cli::setup_run,
     cli::platforms::all, cli::exit_run_failed, cli::exit_run_failed, true},
    {"pipe", "Run STAGE | STAGE | ... without a shell; exit like bash with pipefail", cli::setup_pipe},
    {"fanout", "Send stdin to every STAGE (or deal its lines out); merge their output", cli::setup_fanout},
    {"fanin", "Run STAGEs at once; merge their output lines whole, never torn", cli::setup_fanin},
    // The tour shows POSIX pipes; its Windows edition is still to come.
    {"tour", "Show each kind of pipe on this machine, with measurements", cli::setup_tour, cli::platforms::posix},
    {"msg", "Send or receive messages (Python multiprocessing.connection framing)", cli::setup_msg},
    // FIFOs are POSIX's (Windows named pipes: msg pipe:/pipe-listen:).
    {"fifo", "Create, read or write a FIFO (named pipe)", cli::setup_fifo, cli::platforms::posix},
};

std::vector<CLI::App*> commands_of(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

CLI::App* command_named(CLI::App& app, const std::string& name) {
  for (CLI::App* sub : commands_of(app))
    if (sub->check_name(name)) return sub;
  return nullptr;
}

// "Commands:" and one line per command of `app`, for a command line that
// names none or a wrong one.
void list_commands(CLI::App& app, const std::string& path) {
  fmt::print(stderr, "Commands:\n");
  for (CLI::App* sub : commands_of(app)) fmt::print(stderr, "  {:<10}{}\n", sub->get_name(), sub->get_description());
  fmt::print(stderr, "Run '{} CMD --help' (or 'pipekit help {}CMD') for the options of one.\n", path,
             path == "pipekit" ? "" : path.substr(8) + " ");
}

// Follows the command words at the start of `args` down the tree of
// subcommands. Returns the deepest command they name; stops at the first
// option, or at a word that names no command of a command that has some
// (then `unknown` holds it).
CLI::App* follow_commands(CLI::App& app, const std::vector<std::string>& args, std::string& path, std::string& unknown,
                          std::size_t& used) {
  CLI::App* level = &app;
  path = "pipekit";
  for (used = 0; used < args.size(); ++used) {
    const std::string& a = args[used];
    if (commands_of(*level).empty() || a.starts_with('-')) break;
    CLI::App* sub = command_named(*level, a);
    if (sub == nullptr) {
      unknown = a;
      break;
    }
    level = sub;
    path += " " + a;
  }
  return level;
}

int unknown_command(CLI::App& level, const std::string& path, const std::string& word) {
  const std::string where = path == "pipekit" ? "" : path.substr(8) + " ";
  cli::print_error("unknown command '{}{}'", where, word);
  list_commands(level, path);
  return cli::exit_usage;
}

// `pipekit help [CMD [SUBCMD]]`: the help of that command on stdout.
int print_help(CLI::App& app, const std::vector<std::string>& words) {
  std::string path;
  std::string unknown;
  std::size_t used = 0;
  CLI::App* level = follow_commands(app, words, path, unknown, used);
  if (!unknown.empty()) return unknown_command(*level, path, unknown);
  if (used < words.size()) {
    cli::print_error("help: unexpected '{}' (pipekit help [CMD [SUBCMD]])", words[used]);
    return cli::exit_usage;
  }
  const std::size_t last_space = path.rfind(' ');
  const std::string parent = last_space == std::string::npos ? std::string() : path.substr(0, last_space);
  fmt::print("{}", level->help(parent));
  return 0;
}

int run_cli(int argc, char** argv) {
  // Everything after the first "--" is a command line for `run`, never
  // options of ours. CLI11 hands such arguments to the parent app instead of
  // the subcommand, so they are split off here.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> after_dashes;
  const auto dashes = std::find(args.begin(), args.end(), "--");
  const bool had_dashes = dashes != args.end();
  if (had_dashes) {
    after_dashes.assign(dashes + 1, args.end());
    args.erase(dashes, args.end());
  }

  cli::command_context ctx;
  ctx.after_dashes = std::move(after_dashes);
  CLI::App app{"pipekit: pipes, processes and channels, one abstraction", "pipekit"};
  app.set_version_flag("--version", fmt::format("pipekit {}", pipekit::version), "Print the version and exit");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  app.footer(
      "Usage errors exit with status 2 (pipekit run: 125, as timeout(1)). 'pipekit help CMD' prints the help of "
      "CMD.");
  std::vector<std::pair<const cli::command_entry*, CLI::App*>> made;
  for (const cli::command_entry& c : command_table) {
    if (!cli::includes(c.available, cli::current_platform())) continue;
    CLI::App* sub = app.add_subcommand(c.name, c.summary);
    c.setup(*sub, ctx);
    made.emplace_back(&c, sub);
  }
  // The entry of the command that was parsed, if any.
  const auto parsed = [&]() -> const cli::command_entry* {
    for (const auto& [c, sub] : made)
      if (sub->parsed()) return c;
    return nullptr;
  };
  app.add_subcommand("help", "Print the help of pipekit or of one command: pipekit help [CMD [SUBCMD]]")
      ->allow_extras();
  app.parse_complete_callback([&] {
    const cli::command_entry* c = parsed();
    if (had_dashes && (c == nullptr || !c->takes_command_line))
      throw CLI::ExtrasError(ctx.after_dashes.empty() ? std::vector<std::string>{"--"} : ctx.after_dashes);
  });

  // CLI11 reports a word that names no command as a missing command (or an
  // extra argument); users deserve its name and the list.
  if (!args.empty() && args.front() == "help") {
    if (had_dashes) args.insert(args.end(), ctx.after_dashes.begin(), ctx.after_dashes.end());
    return print_help(app, std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::string path;
  std::string unknown;
  std::size_t used = 0;
  CLI::App* named = follow_commands(app, args, path, unknown, used);
  if (!unknown.empty()) return unknown_command(*named, path, unknown);
  if (used == args.size() && !had_dashes && !commands_of(*named).empty()) {
    cli::print_error("{}", named == &app ? "a command is required" : "'" + path.substr(8) + "' needs a command");
    list_commands(*named, path);
    return cli::exit_usage;
  }

  // The subcommands run inside parse(), from their callbacks.
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    cli::print_usage_error(e.what(), path);
    const cli::command_entry* c = parsed();
    return c != nullptr ? c->usage_status : cli::exit_usage;
  } catch (const std::exception& e) {
    cli::print_error("{}", e.what());
    const cli::command_entry* c = parsed();
    return c != nullptr ? c->failure_status : cli::exit_failure;
  }
  return ctx.status;
}

}  // namespace

int main(int argc, char** argv) {
  cli::reserve_standard_descriptors();
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {  // e.g. out of memory while setting up
    std::fputs("pipekit: ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
    return pipekit::cli::exit_failure;
  }
}
