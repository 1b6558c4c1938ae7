// pipekit fanout [--scatter [--ready] [--frames]] [-o PREFIX] [--tag] [--drop-slow DURATION]
//                [--max-line BYTES] [--timeout DURATION] [--stats] STAGE...
//
// Sends our stdin to every STAGE (pipekit::fan_out, pipekit/topology/fan_out.hpp):
// each gets every byte (what `tee >(a) >(b) >/dev/null` does, but with no
// copy through pipekit on Linux), or with --scatter each line (or channel
// frame, --frames) goes to one of them, in turn or to whichever is ready
// (--ready). Their stdout is merged into ours a whole line at a time, or
// each goes to PREFIX.0, PREFIX.1, ... with -o. A stage that exits early
// does not stop the others. Exit status as `pipekit pipe`'s: the rightmost
// failing stage's, 124 on timeout, 1 when input was not delivered whole
// (a stage dropped as too slow, a record too large, a truncated frame).
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
#include "pipekit/topology/fan_out.hpp"

namespace pipekit::cli {

namespace {

struct fanout_options {
  std::vector<std::string> stages;
  bool scatter = false;
  bool ready = false;
  bool frames = false;
  bool tag = false;
  bool stats = false;
  bool quiet = false;
  std::string output_prefix;
  std::optional<seconds_d> drop_slow;
  std::optional<std::uint64_t> max_line;
  std::optional<seconds_d> timeout;
};

std::string rate(std::uint64_t bytes, clock::duration took) {
  const double s = std::chrono::duration<double>(took).count();
  if (s <= 0) return "-";
  return fmt::format("{:.1f} MB/s", static_cast<double>(bytes) / s / 1e6);
}

int run_fanout(const fanout_options& o) {
  if ((o.ready || o.frames) && !o.scatter) {
    print_error("--ready and --frames go with --scatter");
    return exit_usage;
  }
  const std::optional<std::vector<command>> parsed = parse_stages(o.stages);
  if (!parsed) return exit_usage;
  std::vector<command> consumers = *parsed;

  fan_out_options options;
  if (o.scatter) {
    options.mode = fan_out_mode::scatter;
    if (o.ready) options.order = scatter_order::ready;
    if (o.frames) options.records = record_format::frames;
  }
  if (o.drop_slow) {
    options.when_slow = slow_consumer::drop;
    options.slow_after = std::chrono::duration_cast<std::chrono::milliseconds>(*o.drop_slow);
  }
  if (o.max_line) options.max_line = options.max_record_size = *o.max_line;
  if (o.tag) options.prefix = [](std::size_t i) { return std::to_string(i + 1) + "\t"; };
  if (o.timeout && o.timeout->count() > 0)
    options.until = after(std::chrono::duration_cast<std::chrono::milliseconds>(*o.timeout));

  set_binary_stdin();
  std::optional<handle_stream> in = standard_stream(standard_input_handle(), "stdin");
  if (!in) return exit_failure;
  std::optional<handle_stream> out;
  if (o.output_prefix.empty()) {
    set_binary_stdout();
    out = standard_stream(standard_output_handle(), "stdout");
    if (!out) return exit_failure;
    options.merged_output = &*out;
  } else {
    for (std::size_t i = 0; i < consumers.size(); ++i)
      consumers[i].set_stdout(stdio::file(o.output_prefix + "." + std::to_string(i), file_mode::write));
  }

  std::vector<std::string> names;
  for (std::size_t i = 0; i < consumers.size(); ++i) names.push_back(fmt::format("in>{}", i + 1));
  const std::unique_ptr<live_line> live = live_line_on_stderr(std::move(names), o.quiet);
  if (live) options.on_progress = [&live](std::span<const std::uint64_t> b) { live->update(b, clock::now()); };

  const auto started = clock::now();
  std::error_code ec;
  const fan_out_result r = fan_out(*in, consumers, options, ec);
  const auto took = clock::now() - started;
  if (live) live->erase();
  if (ec) {
    print_error("fanout: {}", ec.message());
    return exit_failure;
  }
  bool delivery_problem = false;
  if (r.source_error == errc::message_too_large) {
    print_error("a record longer than {} bytes in the input; nothing from there on was sent", options.max_record_size);
    delivery_problem = true;
  } else if (r.source_error == errc::protocol_error) {
    print_error("the input is not channel frames (or its last frame is cut short); nothing from there on was sent");
    delivery_problem = true;
  } else if (r.source_error) {
    print_error("reading stdin: {}", r.source_error.message());
    delivery_problem = true;
  }
  if (r.undelivered_records > 0) {
    print_error("{} records not delivered: every stage had left", r.undelivered_records);
    delivery_problem = true;
  }
  for (std::size_t i = 0; i < r.consumers.size(); ++i) {
    const consumer_result& c = r.consumers[i];
    const std::string& program = consumers[i].argv().front();
    if (c.stage.start_error) print_error("stage {} ({}): {}", i + 1, program, start_problem(c.stage));
    if (c.dropped) {
      print_error("stage {} ({}): dropped: took no input for {} s; it got {} bytes", i + 1, program,
                  std::chrono::duration<double>(options.slow_after).count(), c.bytes);
      delivery_problem = true;
    } else if (c.error) {
      print_error("stage {} ({}): writing its input: {}", i + 1, program, c.error.message());
      delivery_problem = true;
    }
    if (c.output_error == errc::message_too_large) {
      print_error("stage {} ({}): an output line longer than {} bytes; its output stopped there", i + 1, program,
                  options.max_line);
      delivery_problem = true;
    } else if (c.output_error) {
      print_error("stage {} ({}): reading its output: {}", i + 1, program, c.output_error.message());
      delivery_problem = true;
    }
    if (o.stats) {
      std::string line =
          fmt::format("pipekit: stage {} ({}): {}, {} bytes in", i + 1, program,
                      c.stage.start_error ? std::string("not started") : c.stage.status.to_string(), c.bytes);
      if (o.scatter) line += fmt::format(" ({} records)", c.records);
      if (c.left_early) line += fmt::format(", left early ({} bytes unread)", c.unread);
      if (o.output_prefix.empty()) line += fmt::format(", {} lines out", c.output_lines);
      fmt::print(stderr, "{}\n", line);
    }
  }
  if (o.stats)
    fmt::print(stderr, "pipekit: input: {} bytes{} in {:.3f} s, {}\n", r.source_bytes,
               r.source_finished ? "" : " (not to its end)", std::chrono::duration<double>(took).count(),
               rate(r.source_bytes, took));
  if (r.output_error && r.output_error != std::errc::broken_pipe)
    print_error("writing the merged output: {}", r.output_error.message());
  if (r.timed_out) return exit_timed_out;
  const int code = r.statuses().shell_code();
  if (code != 0) return code;
  return delivery_problem || r.output_error ? exit_failure : 0;
}

}  // namespace

void setup_fanout(CLI::App& sub, command_context& ctx) {
  auto o = std::make_shared<fanout_options>();
  sub.footer(
      "Each STAGE is one argument, split into words as `pipekit pipe` splits it. Every stage gets all of\n"
      "stdin (with --scatter: each line to one stage); their stdout lines are merged into ours whole.\n"
      "  pipekit fanout 'sha256sum' 'gzip -c -o x' 'wc -l' < big.file\n"
      "  pipekit fanout --scatter -o part 'sort' 'sort' < lines.txt      # part.0 part.1\n\n"
      "A stage that exits early does not stop the others. By default the input goes at the pace of\n"
      "the slowest stage; --drop-slow cuts off one that takes nothing for DURATION.\n"
      "Exit status: 0 when every stage succeeds and took all it was given, else the rightmost failing\n"
      "stage's status (as pipe); 124 on --timeout; 1 when input was not delivered whole; 2 for a\n"
      "usage error.");
  sub.add_option("stages", o->stages, "The stages, each one quoted argument")->type_name("STAGE")->required();
  sub.add_flag("--scatter", o->scatter, "Deal each line to one stage (round-robin) instead of copying");
  sub.add_flag("--ready", o->ready, "With --scatter: to whichever stage is ready for more, not in turn");
  sub.add_flag("--frames", o->frames, "With --scatter: the records are channel frames (4-byte length + data)");
  sub.add_option("-o,--output", o->output_prefix, "Stage i's stdout to PREFIX.i (from 0) instead of merged")
      ->type_name("PREFIX");
  sub.add_flag("--tag", o->tag, "Prefix each merged line with its stage's number (from 1) and a tab");
  add_duration_option(&sub, "--drop-slow", o->drop_slow, "Cut off a stage that takes no input for DURATION");
  add_size_option(&sub, "--max-line", o->max_line, "The longest line (record) held (default 16M)");
  add_duration_option(&sub, "--timeout", o->timeout, "End every stage and what it started after DURATION");
  sub.add_flag("--stats", o->stats, "Print each stage's status and bytes, and the input's rate, on stderr");
  sub.add_flag("-q,--quiet", o->quiet,
               "No live progress line (shown on stderr when it is a terminal: each stage's bytes and rate)");
  sub.callback([o, &ctx] { ctx.status = run_fanout(*o); });
}

}  // namespace pipekit::cli
