// pipekit fanin [--tag | --frames] [--quiet] [--max-line BYTES] [--timeout DURATION] [--stats] STAGE...
//
// Runs every STAGE at once and merges their stdout into ours one whole line
// at a time (pipekit::fan_in, pipekit/topology/fan_in.hpp): no line is ever
// torn, however long, unlike producers sharing one pipe (`{ a & b & } | c`),
// where lines longer than PIPE_BUF interleave. Each STAGE is one argument
// split as `pipekit pipe` splits it. Exit status as `pipekit pipe`'s: the
// rightmost failing stage's (127, 126, 128+N), 124 on timeout, 1 when a
// line passed --max-line or the output could not be written.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands/commands.hpp"
#include "common/errors.hpp"
#include "common/exit_codes.hpp"
#include "common/options.hpp"
#include "common/platform.hpp"
#include "common/stages.hpp"
#include "pipekit/error.hpp"
#include "pipekit/handle.hpp"
#include "pipekit/topology/fan_in.hpp"

namespace pipekit::cli {

namespace {

struct fanin_options {
  std::vector<std::string> stages;
  bool tag = false;
  bool frames = false;
  bool stats = false;
  bool quiet = false;
  std::optional<std::uint64_t> max_line;
  std::optional<seconds_d> timeout;
};

int run_fanin(const fanin_options& o) {
  const std::optional<std::vector<command>> parsed = parse_stages(o.stages);
  if (!parsed) return exit_usage;
  const std::vector<command>& producers = *parsed;

  fan_in_options options;
  if (o.max_line) options.max_record_size = *o.max_line;
  if (o.tag) options.prefix = [](std::size_t i) { return std::to_string(i + 1) + "\t"; };
  if (o.timeout && o.timeout->count() > 0)
    options.until = after(std::chrono::duration_cast<std::chrono::milliseconds>(*o.timeout));

  if (o.frames) {
    if (o.tag) {
      print_error("--tag cannot go with --frames: a prefix would break the framing");
      return exit_usage;
    }
    options.records = record_format::frames;
  }
  set_binary_stdout();
  std::optional<handle_stream> out = standard_stream(standard_output_handle(), "stdout");
  if (!out) return exit_failure;

  std::vector<std::string> names;
  for (std::size_t i = 0; i < producers.size(); ++i) names.push_back(fmt::format("{}>out", i + 1));
  const std::unique_ptr<live_line> live = live_line_on_stderr(std::move(names), o.quiet);
  if (live) options.on_progress = [&live](std::span<const std::uint64_t> b) { live->update(b, clock::now()); };

  options.count_records = o.stats;  // uncounted lines move with no copy
  std::error_code ec;
  const fan_in_result r = fan_in(producers, *out, options, ec);
  if (live) live->erase();
  if (ec) {
    print_error("fanin: {}", ec.message());
    return exit_failure;
  }
  bool line_problem = false;
  for (std::size_t i = 0; i < r.producers.size(); ++i) {
    const producer_result& p = r.producers[i];
    const std::string& program = producers[i].argv().front();
    if (p.stage.start_error) print_error("stage {} ({}): {}", i + 1, program, start_problem(p.stage));
    if (p.error == errc::message_too_large) {
      print_error("stage {} ({}): a {} longer than {} bytes; its output stopped there", i + 1, program,
                  o.frames ? "frame" : "line", options.max_record_size);
      line_problem = true;
    } else if (p.error == errc::protocol_error && o.frames) {
      print_error(
          "stage {} ({}): its output is not channel frames (or its last frame is cut short); it "
          "stopped there",
          i + 1, program);
      line_problem = true;
    } else if (p.error) {
      print_error("stage {} ({}): reading its output: {}", i + 1, program, p.error.message());
      line_problem = true;
    }
    if (o.stats)
      fmt::print(stderr, "pipekit: stage {} ({}): {}, {} {}, {} bytes{}\n", i + 1, program,
                 p.stage.start_error ? std::string("not started") : p.stage.status.to_string(), p.records.value_or(0),
                 o.frames ? "frames" : "lines", p.bytes,
                 p.unterminated_last ? ", last line had no newline (added)" : "");
  }
  if (r.output_error && r.output_error != std::errc::broken_pipe)
    print_error("writing the merged output: {}", r.output_error.message());
  if (r.timed_out) return exit_timed_out;
  const int code = r.statuses().shell_code();
  if (code != 0) return code;
  return line_problem || r.output_error ? exit_failure : 0;
}

}  // namespace

void setup_fanin(CLI::App& sub, command_context& ctx) {
  auto o = std::make_shared<fanin_options>();
  sub.footer(
      "Each STAGE is one argument, split into words as `pipekit pipe` splits it. Their stdout lines are\n"
      "merged into ours whole: no line is torn, however long (a last line without newline gets one).\n"
      "  pipekit fanin --tag 'grep -h ERROR a.log' 'grep -h ERROR b.log'\n\n"
      "Exit status: 0 when every stage succeeds, else the rightmost failing stage's status (as pipe);\n"
      "124 on --timeout; 1 when a line passed --max-line; 2 for a usage error.");
  sub.add_option("stages", o->stages, "The stages, each one quoted argument")->type_name("STAGE")->required();
  sub.add_flag("--tag", o->tag, "Prefix each line with its stage's number (from 1) and a tab");
  sub.add_flag("--frames", o->frames,
               "The stages write channel frames (4-byte length + data), merged whole, instead of lines");
  add_size_option(&sub, "--max-line", o->max_line, "The longest line held for one stage (default 16M)");
  add_duration_option(&sub, "--timeout", o->timeout, "End every stage and what it started after DURATION");
  sub.add_flag("--stats", o->stats, "Print each stage's status, lines and bytes on stderr");
  sub.add_flag("-q,--quiet", o->quiet,
               "No live progress line (shown on stderr when it is a terminal: each stage's bytes and rate)");
  sub.callback([o, &ctx] { ctx.status = run_fanin(*o); });
}

}  // namespace pipekit::cli
