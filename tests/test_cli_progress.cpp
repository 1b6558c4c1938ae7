#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/progress.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::cli::progress_line;
using pipekit::cli::progress_options;

const pipekit::clock::time_point t0{};

TEST(cli_progress, amounts_for_people) {
  EXPECT_EQ(pipekit::cli::format_amount(0), "0 B");
  EXPECT_EQ(pipekit::cli::format_amount(1023), "1023 B");
  EXPECT_EQ(pipekit::cli::format_amount(1024), "1.0 KiB");
  EXPECT_EQ(pipekit::cli::format_amount(1536), "1.5 KiB");
  EXPECT_EQ(pipekit::cli::format_amount(1024 * 1024 - 1), "1.0 MiB");  // not "1024.0 KiB"
  EXPECT_EQ(pipekit::cli::format_amount(std::uint64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(pipekit::cli::format_rate(2 << 20, 2s), "1.0 MiB/s");
  EXPECT_EQ(pipekit::cli::format_rate(100, 0s), "0 B/s");
}

TEST(cli_progress, a_terminal_line_is_redrawn_in_place_and_throttled) {
  std::string out;
  progress_line line(progress_options{.terminal = true, .interval = 250ms, .plain_interval = 1s, .label = {}},
                     [&](std::string_view s) { out.append(s); });
  line.update(0, t0);                   // starts the clock, draws nothing
  line.update(512 * 1024, t0 + 100ms);  // within the interval: nothing
  EXPECT_EQ(out, "");
  line.update(1 << 20, t0 + 500ms);  // 1 MiB in 0.5 s
  EXPECT_EQ(out, "\r1.0 MiB  2.0 MiB/s");
  out.clear();
  line.update(2 << 20, t0 + 600ms);  // 100 ms after the last draw: nothing
  EXPECT_EQ(out, "");
  line.update(3 << 20, t0 + 1500ms);  // 2 MiB in 1 s since the last draw
  EXPECT_EQ(out, "\r3.0 MiB  2.0 MiB/s");
  out.clear();
  line.finish(3 << 20, t0 + 1500ms);
  EXPECT_EQ(out, "\r3.0 MiB in 1.5 s, 2.0 MiB/s\n");
  out.clear();
  line.update(4 << 20, t0 + 5s);  // finished: nothing more
  line.finish(4 << 20, t0 + 5s);
  EXPECT_EQ(out, "");
}

TEST(cli_progress, a_shorter_line_blanks_what_the_longer_one_left) {
  std::string out;
  progress_line line(progress_options{.terminal = true, .interval = 1ms, .plain_interval = 1s, .label = {}},
                     [&](std::string_view s) { out.append(s); });
  line.update(0, t0);
  line.update(1536 * 1024, t0 + 1s);  // "1.5 MiB  1.5 MiB/s": 18 characters
  out.clear();
  line.update(1536 * 1024, t0 + 2s);  // "1.5 MiB  0 B/s": 14, then 4 spaces
  EXPECT_EQ(out, "\r1.5 MiB  0 B/s    ");
}

TEST(cli_progress, plain_lines_when_not_a_terminal) {
  std::string out;
  progress_line line(progress_options{.terminal = false, .interval = 1ms, .plain_interval = 1s, .label = "read"},
                     [&](std::string_view s) { out.append(s); });
  line.update(0, t0);
  line.update(1024, t0 + 500ms);  // the plain interval applies: nothing
  EXPECT_EQ(out, "");
  line.update(2048, t0 + 1s);
  line.finish(4096, t0 + 2s);
  EXPECT_EQ(out, "read: 2.0 KiB  2.0 KiB/s\nread: 4.0 KiB in 2.0 s, 2.0 KiB/s\n");
  EXPECT_EQ(out.find('\r'), std::string::npos);
}

TEST(cli_progress, finish_without_updates_says_zero_time) {
  std::string out;
  progress_line line(progress_options{}, [&](std::string_view s) { out.append(s); });
  line.finish(0, t0);
  EXPECT_EQ(out, "0 B in 0.0 s, 0 B/s\n");
}

}  // namespace
