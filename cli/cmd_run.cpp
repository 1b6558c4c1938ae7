// pipekit run: option parsing and what every OS shares; the running itself is
// in run_posix.cpp / run_windows.cpp.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "run.hpp"

namespace pipekit::cli {

namespace {

// Seconds on the command line: a non-negative decimal number, e.g. "2.5".
const CLI::Validator seconds_check(
    [](const std::string& text) {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || !(v >= 0) || std::isinf(v))
        return "expected seconds (a number >= 0, such as 2.5), got '" + text + "'";
      return std::string();
    },
    "");

}  // namespace

constexpr double forever_seconds = 1e9;

deadline deadline_after(double seconds) {
  if (seconds <= 0 || seconds >= forever_seconds) return no_deadline;
  return after(std::chrono::duration<double>(seconds));
}

std::chrono::milliseconds to_milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(std::min(seconds, forever_seconds) * 1000.0)));
}

command make_command(const run_options& o) {
  command cmd{o.command};
  if (!o.cwd.empty()) cmd.cwd(o.cwd);
  for (const std::string& kv : o.env) {
    const std::size_t eq = kv.find('=');
    cmd.env(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!o.stdin_file.empty()) cmd.set_stdin(stdio::file(o.stdin_file, file_mode::read));
#if !defined(_WIN32)
  // Like timeout(1) and env(1): `3>out 4<in`, --passphrase-fd, a jobserver's
  // pipe and LISTEN_FDS reach the command.
  if (!o.close_fds) cmd.keep_inherited_descriptors();
#endif
  return cmd;
}

// Why a command could not start, in a shell's terms.

int spawn_failure_status(const spawn_error& e) {
  if (e.stage() != spawn_stage::exec) return exit_run_failed;  // chdir, open (--stdin), pty, ...
  return e.code() == std::errc::no_such_file_or_directory ? exit_not_found : exit_cannot_execute;
}

CLI::App* add_run(CLI::App& app, const std::vector<std::string>& after_dashes, int& status) {
  auto o = std::make_shared<run_options>();
  CLI::App* sub = app.add_subcommand("run", "Run a command; exit with its status (124 on timeout, like timeout(1))");
  sub->footer(
      "CMD and its arguments follow the options, best after \"--\":\n"
      "  pipekit run --timeout 2.5 --env LANG=C -- make -j8\n\n"
      "Exit status: the command's, or 128+N if signal N ended it; 124 when --timeout expired (the command's\n"
      "whole process group was terminated); 125 when pipekit failed; 126 when CMD cannot be executed;\n"
      "127 when CMD was not found. SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to the command's group.");
  sub->add_option("--timeout", o->timeout, "Terminate the command and everything it started after S seconds")
      ->type_name("S")
      ->check(seconds_check);
  sub->add_option("--kill-after", o->kill_after, "On timeout, SIGKILL this many seconds after SIGTERM")
      ->type_name("S")
      ->capture_default_str()
      ->check(seconds_check);
  sub->add_option("--cwd", o->cwd, "Run in directory DIR")->type_name("DIR");
  sub->add_option("--env", o->env, "Set an environment variable (repeatable)")
      ->type_name("K=V")
      ->check(CLI::Validator(
          [](const std::string& kv) {
            const std::size_t eq = kv.find('=');
            return eq == std::string::npos || eq == 0 ? std::string("expected K=V") : std::string();
          },
          ""));
  sub->add_option("--stdin", o->stdin_file, "Read the command's stdin from FILE")->type_name("FILE");
#if !defined(_WIN32)
  sub->add_flag("--close-fds", o->close_fds,
                "Close the descriptors above 2 we inherited instead of passing them to the command");
#endif
  sub->add_flag("--pty", o->pty, "Run the command on a new pseudo-terminal and relay our stdin/stdout to it");
  // Without "--", the first argument that is not one of ours starts CMD.
  sub->prefix_command();
  sub->callback([o, sub, &after_dashes, &status] {
    o->command = sub->remaining();
    if (!o->command.empty() && o->command.front().starts_with('-')) throw CLI::ExtrasError({o->command.front()});
    if (!o->command.empty() && !after_dashes.empty()) o->command.emplace_back("--");  // `run ls -- x`: ls gets "--"
    o->command.insert(o->command.end(), after_dashes.begin(), after_dashes.end());
    if (o->command.empty()) throw CLI::RequiredError("CMD");
    status = run_command(*o);
  });
  return sub;
}

}  // namespace pipekit::cli
