// pipekit: the command-line face of the library.
//
//   pipekit --version
//   pipekit limits [--json]
//   pipekit run [--timeout S] [--kill-after S] [--cwd DIR] [--env K=V]...
//               [--stdin FILE] [--pty] -- CMD [ARG...]
//   pipekit tour
//   pipekit msg send|recv ENDPOINT [--authkey KEY] [--timeout S] [--count N]
//   pipekit fifo create PATH [--mode OCTAL] | read PATH [--timeout S] [--keep-open] | write PATH [--timeout S]
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

int run_cli(int argc, char** argv) {
  namespace cli = pipekit::cli;

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
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order

  int status = 0;
  CLI::App app{"pipekit: pipes, processes and channels, one abstraction", "pipekit"};
  app.set_version_flag("--version", fmt::format("pipekit {}", pipekit::version), "Print the version and exit");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  cli::add_limits(app, status);
  CLI::App* run = cli::add_run(app, after_dashes, status);
#if !defined(_WIN32)  // the tour shows POSIX pipes; its Windows edition is still to come
  cli::add_tour(app, status);
#endif
  cli::add_msg(app, status);
#if !defined(_WIN32)  // FIFOs are POSIX's (Windows named pipes: msg pipe:/pipe-listen:)
  cli::add_fifo(app, status);
#endif
  app.parse_complete_callback([&] {
    if (had_dashes && !run->parsed())
      throw CLI::ExtrasError(after_dashes.empty() ? std::vector<std::string>{"--"} : after_dashes);
  });

  // The subcommands run inside parse(), from their callbacks.
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    if (code == static_cast<int>(CLI::ExitCodes::Success)) return 0;
    return run->parsed() ? cli::exit_run_failed : cli::exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "pipekit: {}\n", e.what());
    return run->parsed() ? cli::exit_run_failed : cli::exit_failure;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& e) {  // e.g. out of memory while setting up
    std::fputs("pipekit: ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
    return pipekit::cli::exit_failure;
  }
}
