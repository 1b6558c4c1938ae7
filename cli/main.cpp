// pipekit: the command-line face of the library.
//
//   pipekit --version
//   pipekit help [CMD [SUBCMD]]
//   pipekit limits [--json]
//   pipekit run [--timeout DURATION] [-k DURATION] [-s SIG] [--preserve-status] [--foreground] [-v]
//               [--cwd DIR] [--env K=V]... [--stdin FILE] [--pty] -- CMD [ARG...]
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
#include <vector>

#include "cli.hpp"
#include "pipekit/version.hpp"

namespace {

namespace cli = pipekit::cli;

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
  fmt::print(stderr, "pipekit: unknown command '{}{}'\n", where, word);
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
    fmt::print(stderr, "pipekit: help: unexpected '{}' (pipekit help [CMD [SUBCMD]])\n", words[used]);
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

  int status = 0;
  CLI::App app{"pipekit: pipes, processes and channels, one abstraction", "pipekit"};
  app.set_version_flag("--version", fmt::format("pipekit {}", pipekit::version), "Print the version and exit");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  app.footer(
      "Usage errors exit with status 2 (pipekit run: 125, as timeout(1)). 'pipekit help CMD' prints the help of "
      "CMD.");
  cli::add_limits(app, status);
  CLI::App* run = cli::add_run(app, after_dashes, status);
#if !defined(_WIN32)  // the tour shows POSIX pipes; its Windows edition is still to come
  cli::add_tour(app, status);
#endif
  cli::add_msg(app, status);
#if !defined(_WIN32)  // FIFOs are POSIX's (Windows named pipes: msg pipe:/pipe-listen:)
  cli::add_fifo(app, status);
#endif
  app.add_subcommand("help", "Print the help of pipekit or of one command: pipekit help [CMD [SUBCMD]]")
      ->allow_extras();
  app.parse_complete_callback([&] {
    if (had_dashes && !run->parsed())
      throw CLI::ExtrasError(after_dashes.empty() ? std::vector<std::string>{"--"} : after_dashes);
  });

  // CLI11 reports a word that names no command as a missing command (or an
  // extra argument); users deserve its name and the list.
  if (!args.empty() && args.front() == "help") {
    if (had_dashes) args.insert(args.end(), after_dashes.begin(), after_dashes.end());
    return print_help(app, std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::string path;
  std::string unknown;
  std::size_t used = 0;
  CLI::App* named = follow_commands(app, args, path, unknown, used);
  if (!unknown.empty()) return unknown_command(*named, path, unknown);
  if (used == args.size() && !had_dashes && !commands_of(*named).empty()) {
    fmt::print(stderr, "pipekit: {}\n",
               named == &app ? "a command is required" : "'" + path.substr(8) + "' needs a command");
    list_commands(*named, path);
    return cli::exit_usage;
  }

  // The subcommands run inside parse(), from their callbacks.
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    fmt::print(stderr, "pipekit: {}\nTry '{} --help' for more information.\n", e.what(), path);
    return run->parsed() ? cli::exit_run_failed : cli::exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "pipekit: {}\n", e.what());
    return run->parsed() ? cli::exit_run_failed : cli::exit_failure;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
#if !defined(_WIN32)
  cli::reserve_standard_descriptors();
#endif
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {  // e.g. out of memory while setting up
    std::fputs("pipekit: ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
    return pipekit::cli::exit_failure;
  }
}
