// pipekit pipe [--stats] [--json] [--quiet] [-i FILE] [-o FILE] [--timeout DURATION] [-k DURATION] STAGE...
//
// A pipeline like bash's `set -o pipefail; A | B | C`, without a shell: each
// STAGE is one argument split into words by split_shell_words() (quotes and
// backslashes as the shell reads them, nothing expanded), run by
// pipekit::pipeline (pipekit/topology/pipeline.hpp). The exit status is
// pipeline_result::shell_code(): 0, or the rightmost failing stage's status
// (128+N for signal N, 127 not found, 126 not executable), 124 on timeout.
//
// The stages stay in pipekit's process group, as a shell keeps a job's
// stages in one group: a stage can read the terminal, and Ctrl-C from it
// reaches every stage at once (pipekit waits for them and reports what they
// did). SIGTERM and SIGHUP sent to pipekit alone are passed on to every
// stage. The timeout still reaches what the stages started: on Linux
// pipekit is their subreaper and ends every descendant after the stages.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands/commands.hpp"
#include "common/errors.hpp"
#include "common/exit_codes.hpp"
#include "common/options.hpp"
#include "common/stages.hpp"
#include "pipekit/signals.hpp"
#include "pipekit/topology/pipeline.hpp"

namespace pipekit::cli {

namespace {

struct pipe_options {
  std::vector<std::string> stages;
  std::string input_file;
  std::string output_file;
  std::optional<seconds_d> timeout;
  std::optional<seconds_d> kill_after;
  bool stats = false;
  bool json = false;
  bool quiet = false;
};

std::string program_of(const command& c) { return c.argv().empty() ? std::string() : c.argv().front(); }

// "47.7 MiB", "512 B": for reading at a glance (the exact count follows it).
std::string human_bytes(double v) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", v) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string status_text(const stage_result& s) {
  if (s.start_error) return "not started: " + start_problem(s);
  return s.status.to_string();
}

void print_stats(const pipeline& p, const pipeline_result& r, bool timed_out, int code, bool json) {
  if (json) {
    nlohmann::ordered_json doc;
    doc["status"] = code;
    doc["timed_out"] = timed_out;
    nlohmann::ordered_json stages = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < r.stages.size(); ++i) {
      const stage_result& s = r.stages[i];
      nlohmann::ordered_json st;
      st["index"] = i;
      st["argv"] = p.stages()[i].argv();
      st["started"] = !s.start_error;
      if (s.start_error) st["start_error"] = start_problem(s);
      if (auto c = s.status.code()) st["exit_code"] = *c;
      if (auto sig = s.status.signal()) st["signal"] = *sig;
      st["shell_code"] =
          s.start_error ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.status.shell_code());
      st["seconds"] = std::chrono::duration<double>(s.run_time).count();
      st["killed"] = s.killed;
      stages.push_back(std::move(st));
    }
    doc["stages"] = std::move(stages);
    nlohmann::ordered_json edges = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < r.edges.size(); ++i) {
      const edge_result& e = r.edges[i];
      nlohmann::ordered_json ed;
      ed["from"] = i;
      ed["to"] = i + 1;
      ed["bytes"] = e.bytes;
      ed["seconds"] = std::chrono::duration<double>(e.duration).count();
      ed["bytes_per_second"] = e.bytes_per_second();
      if (e.error) ed["error"] = e.error.message();
      edges.push_back(std::move(ed));
    }
    doc["edges"] = std::move(edges);
    fmt::print(stderr, "{}\n", doc.dump());
    return;
  }
  for (std::size_t i = 0; i < r.stages.size(); ++i) {
    const stage_result& s = r.stages[i];
    fmt::print(stderr, "pipekit: stage {} ({}): {}, {:.3f} s{}\n", i + 1, program_of(p.stages()[i]), status_text(s),
               std::chrono::duration<double>(s.run_time).count(), s.killed ? ", killed" : "");
  }
  for (std::size_t i = 0; i < r.edges.size(); ++i) {
    const edge_result& e = r.edges[i];
    fmt::print(stderr, "pipekit: edge {} -> {}: {} ({} bytes) at {}/s{}\n", i + 1, i + 2,
               human_bytes(static_cast<double>(e.bytes)), e.bytes, human_bytes(e.bytes_per_second()),
               e.error ? ", ended by: " + e.error.message() : std::string());
  }
  fmt::print(stderr, "pipekit: pipeline: status {}{}\n", code, timed_out ? " (timed out)" : "");
}

// The signals that target pipekit alone (kill PID), passed on to the stages;
// a terminal's Ctrl-C and Ctrl-\ reach the stages by themselves.
bool forwarded(int sig) {
#if defined(_WIN32)
  (void)sig;
  return false;
#else
  return sig == SIGTERM || sig == SIGHUP;
#endif
}

int run_pipe(const pipe_options& o) {
  const std::optional<std::vector<command>> stages = parse_stages(o.stages);
  if (!stages) return exit_usage;
  pipeline p(*stages);
  if (!o.input_file.empty()) p.set_stdin(stdio::file(o.input_file, file_mode::read));
  if (!o.output_file.empty()) p.set_stdout(stdio::file(o.output_file, file_mode::write));
  p.when_start_fails(on_start_failure::run_others);
  // The live line on a terminal counts what crosses each edge: metered.
  std::vector<std::string> edge_names;
  for (std::size_t i = 1; i < stages->size(); ++i) edge_names.push_back(fmt::format("{}>{}", i, i + 1));
  std::unique_ptr<live_line> live = stages->size() > 1 ? live_line_on_stderr(edge_names, o.quiet) : nullptr;
  p.meter(o.stats || o.json || live);

  // Relayed so that pipekit outlives the stages and reports them; see the
  // top of this file for which are passed on.
#if defined(_WIN32)
  // Console events reach every process of the console, the stages too.
  const std::array<int, 3> relayed{signal_interrupt, signal_break, signal_hangup};
#else
  const std::array<int, 4> relayed{SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#endif
  std::error_code relay_ec;
  signal_relay relay(relayed, relay_ec);  // without it pipekit still works, it just dies with the job

  // The stages share pipekit's group, so a timeout reaches what they started
  // through this: orphans of the stages become pipekit's children (Linux),
  // and kill_own_descendants() ends them after the stages.
  std::error_code no_subreaper;
  become_subreaper(no_subreaper);

  std::error_code ec;
  pipeline_failure why;
  running_pipeline r = p.spawn(ec, why);
  if (ec) {
    // run_others: only when no stage at all could start.
    print_error("stage {} ({}): {}", why.stage + 1, why.program, ec.message());
    return why.why.stage == spawn_stage::exec
               ? (ec == std::errc::no_such_file_or_directory ? exit_not_found : exit_cannot_execute)
               : exit_failure;
  }
  const deadline until = o.timeout && o.timeout->count() > 0
                             ? after(std::chrono::duration_cast<std::chrono::milliseconds>(*o.timeout))
                             : no_deadline;
  std::optional<pipeline_result> result;
  bool timed_out = false;
  std::vector<std::uint64_t> edge_bytes(edge_names.size(), 0);
  while (!result) {
    if (live) {
      for (std::size_t i = 0; i < edge_bytes.size(); ++i) edge_bytes[i] = r.edge_bytes(i);
      live->update(edge_bytes, clock::now());
    }
    // Short waits only while a relay is active (to pass its signals on) or
    // a live line is drawn.
    deadline step = until;
    if (relay.active() || live) step = std::min(until, after(std::chrono::milliseconds(50)));
    result = r.wait_until(step, ec);
    if (ec) {
      print_error("waiting for the pipeline: {}", ec.message());
      result = r.terminate({}, ec);
      break;
    }
    if (result) break;
    if (relay.active()) {
      for (int sig : relay.take())
        if (forwarded(sig))
          for (std::size_t i = 0; i < r.size(); ++i)
            if (r.stage(i).valid()) {
              std::error_code ignored;
              r.stage(i).send_signal(sig, ignored);
            }
    }
    if (until != no_deadline && clock::now() >= until) {
      terminate_options t;
      t.grace = std::chrono::duration_cast<std::chrono::milliseconds>(o.kill_after.value_or(seconds_d(5)));
      result = r.terminate(t, ec);
      timed_out = true;
      std::error_code ignored;
      if (!no_subreaper) (void)kill_own_descendants(ignored);
    }
  }

  if (live) live->erase();
  for (std::size_t i = 0; i < result->stages.size(); ++i) {
    const stage_result& s = result->stages[i];
    if (s.start_error) print_error("stage {} ({}): {}", i + 1, program_of(p.stages()[i]), start_problem(s));
  }
  const int code = timed_out ? exit_timed_out : result->shell_code();
  if (o.stats || o.json) print_stats(p, *result, timed_out, code, o.json);
  return code;
}

}  // namespace

void setup_pipe(CLI::App& sub, command_context& ctx) {
  auto o = std::make_shared<pipe_options>();
  sub.footer(
      "Each STAGE is one argument, split into words as a POSIX shell would (single and double quotes,\n"
      "backslashes) but never run by a shell: no globbing, no variables, no redirections.\n"
      "  pipekit pipe 'grep -v \"^#\"' sort 'uniq -c'\n\n"
      "Exit status, as bash's with `set -o pipefail`: 0 when every stage succeeds, else the status of\n"
      "the rightmost stage that failed (128+N for signal N, 127 for a program not found, 126 for one\n"
      "that cannot be executed); 124 when --timeout expired; 2 for a usage error.");
  sub.add_option("stages", o->stages, "The stages, each one quoted argument")->type_name("STAGE")->required();
  sub.add_option("-i,--input", o->input_file, "The first stage reads FILE")->type_name("FILE");
  sub.add_option("-o,--output", o->output_file, "The last stage writes FILE (created or truncated)")->type_name("FILE");
  add_duration_option(&sub, "--timeout", o->timeout, "End every stage and what it started after DURATION");
  add_duration_option(&sub, "-k,--kill-after", o->kill_after,
                      "On timeout, SIGKILL this long after SIGTERM (default 5s)");
  sub.add_flag("--stats", o->stats,
               "Print each stage's status and run time and each edge's bytes and rate on stderr (the edges "
               "are then metered: a relay counts what passes, with splice(2) on Linux)");
  sub.add_flag("--json", o->json, "With --stats: one JSON document on stderr instead");
  sub.add_flag("-q,--quiet", o->quiet,
               "No live progress line (shown on stderr when it is a terminal: each edge's bytes and rate)");
  sub.callback([o, &ctx] { ctx.status = run_pipe(*o); });
}

}  // namespace pipekit::cli
