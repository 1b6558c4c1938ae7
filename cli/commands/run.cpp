// pipekit run: option parsing and what every OS shares; the running itself is
// in commands/run_posix.cpp / run_windows.cpp.
#include "commands/run.hpp"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/commands.hpp"
#include "common/errors.hpp"
#include "common/options.hpp"
#include "common/signals.hpp"

namespace pipekit::cli {

namespace {

constexpr double forever_seconds = 1e9;

// What the parser fills in; run_options gets the defaults for what is unset.
struct run_arguments {
  std::optional<seconds_d> timeout;
  std::optional<seconds_d> kill_after;
  std::optional<int> signal;
};

}  // namespace

deadline deadline_after(seconds_d d) {
  if (d.count() <= 0 || d.count() >= forever_seconds) return no_deadline;
  return after(d);
}

std::chrono::milliseconds to_milliseconds(seconds_d d) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(std::min(d.count(), forever_seconds) * 1000.0)));
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
  if (o.foreground) cmd.group(process_group::inherit);
  return cmd;
}

void use_pty(command& cmd, const run_options& o, std::optional<terminal_size> size) {
  if (o.stdin_file.empty()) cmd.set_stdin(stdio::pty());
  cmd.set_stdout(stdio::pty()).set_stderr(stdio::pty());
  if (size) cmd.pty_size(*size);
}

int spawn_failure_status(const spawn_error& e) {
  if (e.stage() != spawn_stage::exec) return exit_run_failed;  // chdir, open (--stdin), pty, ...
  return e.code() == std::errc::no_such_file_or_directory ? exit_not_found : exit_cannot_execute;
}

int time_out(process& p, const run_options& o) {
  const auto say = [&](int sig) {
    if (o.verbose) print_error("sending signal {} to command '{}'", signal_short_name(sig), o.command.front());
  };
  say(o.signal);
  std::error_code ec;
  const terminate_result r = p.terminate(
      terminate_options{.signal = o.signal, .grace = to_milliseconds(o.kill_after), .descendants = !o.foreground}, ec);
  if (ec) {
    print_error("cannot end the command: {}", ec.message());
    return exit_run_failed;
  }
  // Said once it is done: the library sends SIGKILL the moment the grace
  // period is over, and that moment is only known here afterwards.
  if (r.killed) say(signal_kill);
  // timeout(1) exits 137 when SIGKILL ended the command (after the grace,
  // or as its -s KILL); Windows keeps no signal in the status, hence the
  // check of what was sent.
  if (r.killed || r.status.signal() == signal_kill || o.signal == signal_kill) return exit_killed;
  return o.preserve_status ? r.status.shell_code() : exit_timed_out;
}

void setup_run(CLI::App& app, command_context& ctx) {
  auto o = std::make_shared<run_options>();
  auto given = std::make_shared<run_arguments>();
  CLI::App* sub = &app;
  sub->footer(
      "CMD and its arguments follow the options, best after \"--\":\n"
      "  pipekit run --timeout 2.5 --env LANG=C -- make -j8\n\n"
      "DURATION: a number of seconds (1.5), or with a suffix: 500ms, 2s, 1m, 1h, 1d. --timeout 0: none.\n"
      "On timeout, SIG (default TERM) goes to the command's whole process group (with --foreground to the\n"
      "command alone), then SIGKILL after --kill-after (0: at once; unlike timeout(1), pipekit always ends\n"
      "the command). SIG: a name (TERM, SIGINT, hup) or a number"
#if defined(_WIN32)
      "; on Windows only TERM and KILL, which both end the\ncommand's job at once"
#endif
      ".\n\n"
      "Exit status: the command's, or 128+N if signal N ended it; 124 when --timeout expired; 137 when\n"
      "SIGKILL had to end it after --kill-after (or -s KILL did); with --preserve-status the command's\n"
      "status even on timeout; 125 when pipekit failed or was used wrongly (bad option, --cwd, --stdin);\n"
      "126 when CMD cannot be executed; 127 when CMD (or its #! interpreter) was not found. An executable\n"
      "file without #! runs with /bin/sh. SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to the command.");
  add_duration_option(sub, "--timeout", given->timeout,
                      "Send SIG to the command and everything it started after DURATION");
  add_duration_option(sub, "-k,--kill-after", given->kill_after,
                      "On timeout, SIGKILL this long after SIG (default 5s)");
  add_signal_option(sub, "-s,--signal", given->signal, "The signal to send on timeout (default TERM)");
  sub->add_flag("--preserve-status", o->preserve_status, "On timeout, exit with the command's status instead of 124");
  sub->add_flag("--foreground", o->foreground,
                "Keep the command in pipekit's process group (it reads the terminal and gets its signals "
                "directly); on timeout only the command is ended, not what it started");
  sub->add_flag("-v,--verbose", o->verbose, "Say on stderr when a signal is sent on timeout");
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
  sub->callback([o, given, sub, &ctx] {
    const std::vector<std::string>& after_dashes = ctx.after_dashes;
    if (given->timeout) o->timeout = *given->timeout;
    if (given->kill_after) o->kill_after = *given->kill_after;
    if (given->signal) o->signal = *given->signal;
    if (o->foreground && o->pty)
      throw CLI::ValidationError("--foreground",
                                 "does not go with --pty (--pty gives the command a terminal of its own)");
    o->command = sub->remaining();
    if (!o->command.empty() && o->command.front().starts_with('-')) throw CLI::ExtrasError({o->command.front()});
    if (!o->command.empty() && !after_dashes.empty()) o->command.emplace_back("--");  // `run ls -- x`: ls gets "--"
    o->command.insert(o->command.end(), after_dashes.begin(), after_dashes.end());
    if (o->command.empty()) throw CLI::RequiredError("CMD");
    ctx.status = run_command(*o);
  });
}

}  // namespace pipekit::cli
