// A progress line for commands that move bytes (pv's line, small):
//
//   on a terminal:  "\r12.5 MiB  3.1 MiB/s" redrawn in place, at most once per interval
//   elsewhere:      "12.5 MiB  3.1 MiB/s\n" one plain line per interval (a log stays readable)
//
//   progress_line progress(progress_options{.terminal = is_terminal(err), .label = "fifo read"},
//                          [](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stderr); });
//   progress.update(total, clock::now());   // after each chunk: cheap when nothing is drawn
//   progress.finish(total, clock::now());   // the last line, with the average rate
//
// Times come from the caller, so the line is a pure function of the calls
// (and tests need no clock). Not thread-safe: one caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipekit/deadline.hpp"

namespace pipekit::cli {

struct progress_options {
  bool terminal = false;                           // redraw one line with \r; else plain lines
  std::chrono::milliseconds interval{250};         // at most one draw per interval
  std::chrono::milliseconds plain_interval{1000};  // the same when not a terminal
  std::string label;                               // "LABEL: " before the numbers, when not empty
};

// "0 B", "1023 B", "1.0 KiB", "12.5 MiB", "3.0 GiB": for people, one decimal.
[[nodiscard]] std::string format_amount(std::uint64_t bytes);
// "3.1 MiB/s"; "0 B/s" when no time passed.
[[nodiscard]] std::string format_rate(std::uint64_t bytes, std::chrono::duration<double> elapsed);

class progress_line {
 public:
  using writer = std::function<void(std::string_view)>;

  progress_line(progress_options options, writer write);

  // `total` bytes so far at `now`. Draws when an interval has passed since
  // the last draw (or since the first call), with the rate since then.
  void update(std::uint64_t total, clock::time_point now);
  // Draws the final line (total and the average rate since the first call)
  // and ends it with a newline. Later calls do nothing.
  void finish(std::uint64_t total, clock::time_point now);

 private:
  void draw(const std::string& text, bool last);

  progress_options options_;
  writer write_;
  bool started_ = false;
  bool finished_ = false;
  clock::time_point start_{};
  clock::time_point last_draw_{};
  std::uint64_t last_total_ = 0;
  std::size_t drawn_width_ = 0;  // of the line now on the terminal, to blank what a shorter one leaves
};

// The live line of a command that moves bytes along several edges at once
// (pipe's edges, fanin's producers, fanout's consumers), on a terminal only:
//
//   "\r1>2 12.5 MiB 3.1 MiB/s | 2>3 12.4 MiB 3.1 MiB/s | 4.0 s"
//
// first drawn after `first_after` (a short run shows nothing), then
// redrawn in place at most once per interval (rates since the last draw),
// cut to the terminal's width so it never wraps (a wrapped line cannot be
// redrawn with \r), and erased at the end: what the command prints after
// it (--stats, errors) starts on a clean line. Not thread-safe: one caller.
class live_line {
 public:
  live_line(std::vector<std::string> names, std::size_t width, progress_line::writer write,
            std::chrono::milliseconds interval = std::chrono::milliseconds{250},
            std::chrono::milliseconds first_after = std::chrono::milliseconds{1000});

  // totals[i]: edge i's bytes so far at `now` (as many as names).
  void update(std::span<const std::uint64_t> totals, clock::time_point now);
  // Blanks what was drawn and puts the cursor back at the line's start.
  void erase();

 private:
  std::vector<std::string> names_;
  std::size_t width_;
  progress_line::writer write_;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds first_after_;
  bool started_ = false;
  bool drawn_ = false;
  clock::time_point start_{};
  clock::time_point last_draw_{};
  std::vector<std::uint64_t> last_totals_;
  std::size_t drawn_width_ = 0;
};

}  // namespace pipekit::cli
