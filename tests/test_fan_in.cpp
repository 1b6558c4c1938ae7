// pipekit::fan_in (pipekit/topology/fan_in.hpp) on both systems: producers'
// lines merged whole, with the child helper's `lines` mode as producers.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "helpers/varied_records.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/topology/fan_in.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit_test::child;

// Runs fan_in into a pipe drained by a thread; returns what came out.
std::string merged(const std::vector<pipekit::command>& producers, const pipekit::fan_in_options& options,
                   pipekit::fan_in_result& result) {
  pipekit::pipe_pair p = pipekit::make_pipe();
  std::string out;
  std::thread reader([&] { out = p.read_end.read_to_end(); });
  result = pipekit::fan_in(producers, p.write_end, options);
  p.write_end.close();
  reader.join();
  return out;
}

TEST(fan_in, eight_producers_of_100_kb_lines_tear_none) {
  std::vector<pipekit::command> producers;
  for (int i = 0; i < 8; ++i)
    producers.push_back(child({"lines", "40", "100000", std::string(1, static_cast<char>('a' + i))}));
  pipekit::fan_in_result r;
  const std::string out = merged(producers, {}, r);
  ASSERT_TRUE(r.success()) << r.output_error.message();
  std::map<char, int> lines_of;
  std::size_t start = 0;
  std::size_t torn = 0;
  for (std::size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string_view line(out.data() + start, nl - start);
    if (line.size() != 100000 || line.find_first_not_of(line.front()) != std::string_view::npos) {
      ++torn;
      continue;
    }
    ++lines_of[line.front()];
  }
  EXPECT_EQ(start, out.size());
  EXPECT_EQ(torn, 0u);
  ASSERT_EQ(lines_of.size(), 8u);
  for (const auto& [c, n] : lines_of) EXPECT_EQ(n, 40) << c;
  for (const auto& p : r.producers) {
    EXPECT_EQ(p.records, std::optional<std::uint64_t>(40));
    EXPECT_EQ(p.bytes, 40u * 100001u);
    EXPECT_FALSE(p.unterminated_last);
  }
}

// Checks that `records` (cut out of the merged output) hold every record
// of every producer once, whole, in each producer's order.
void expect_every_varied_record(const std::vector<std::string_view>& records, int producers, std::size_t n,
                                std::size_t max) {
  std::vector<std::size_t> next(static_cast<std::size_t>(producers), 0);
  std::size_t wrong = 0;
  for (const std::string_view r : records) {
    const std::size_t colon = r.find(':');
    const int tag = colon == 1 ? r[0] - 'A' : -1;
    if (tag < 0 || tag >= producers || next[static_cast<std::size_t>(tag)] >= n ||
        r != pipekit_test::varied_record(std::string(1, r[0]), next[static_cast<std::size_t>(tag)], max)) {
      if (++wrong < 3) ADD_FAILURE() << "a torn or misplaced record of " << r.size() << " bytes: " << r.substr(0, 40);
      continue;
    }
    ++next[static_cast<std::size_t>(tag)];
  }
  EXPECT_EQ(wrong, 0u);
  for (int p = 0; p < producers; ++p) EXPECT_EQ(next[static_cast<std::size_t>(p)], n) << "producer " << p;
}

std::vector<pipekit::command> varied_producers(int producers, std::size_t n, std::size_t max, bool frames) {
  std::vector<pipekit::command> v;
  for (int p = 0; p < producers; ++p) {
    pipekit::command c =
        child({"varied", std::to_string(n), std::to_string(max), std::string(1, static_cast<char>('A' + p))});
    if (frames) c.arg("frames");
    v.push_back(std::move(c));
  }
  return v;
}

// Lines from a few bytes to past the 1 MiB a tee looks at, cut across
// writes anywhere: counted (read and copied) and uncounted (zero copy on
// Linux, with its fallbacks for the long ones).
TEST(fan_in, lines_of_every_size_arrive_whole_counted_or_not) {
  constexpr std::size_t n = 300;
  constexpr std::size_t max = std::size_t{1200} << 10;
  for (const bool count : {true, false}) {
    SCOPED_TRACE(count ? "counted" : "not counted");
    pipekit::fan_in_options options;
    options.count_records = count;
    pipekit::fan_in_result r;
    const std::string out = merged(varied_producers(4, n, max, false), options, r);
    ASSERT_TRUE(r.success()) << r.output_error.message();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back(), '\n');
    std::vector<std::string_view> lines;
    for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1)
      lines.emplace_back(out.data() + at, nl - at);
    expect_every_varied_record(lines, 4, n, max);
    std::uint64_t total = 0;
    for (const auto& p : r.producers) {
      total += p.bytes;
      EXPECT_FALSE(p.unterminated_last);
      if (count) {
        EXPECT_EQ(p.records, std::optional<std::uint64_t>(n));
      }
    }
    EXPECT_EQ(total, out.size());
  }
}

// Frames out of channel.hpp's framing: a 4-byte big-endian length, then the bytes.
std::vector<std::string_view> cut_frames(std::string_view out, bool& whole) {
  std::vector<std::string_view> frames;
  whole = true;
  while (out.size() >= 4) {
    const auto* b = reinterpret_cast<const unsigned char*>(out.data());
    const std::size_t len = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | b[3];
    if (out.size() - 4 < len) break;
    frames.push_back(out.substr(4, len));
    out.remove_prefix(4 + len);
  }
  whole = out.empty();
  return frames;
}

TEST(fan_in, frames_of_every_size_arrive_whole) {
  constexpr std::size_t n = 200;
  constexpr std::size_t max = std::size_t{300} << 10;
  pipekit::fan_in_options options;
  options.records = pipekit::record_format::frames;
  pipekit::fan_in_result r;
  const std::string out = merged(varied_producers(4, n, max, true), options, r);
  ASSERT_TRUE(r.success()) << r.output_error.message();
  bool whole = false;
  expect_every_varied_record(cut_frames(out, whole), 4, n, max);
  EXPECT_TRUE(whole);
  for (const auto& p : r.producers) EXPECT_EQ(p.records, std::optional<std::uint64_t>(n));
}

TEST(fan_in, a_frame_over_the_bound_or_cut_short_is_an_error_and_the_rest_stays_intact) {
  pipekit_test::temp_dir dir("pk-fanin");
  const auto cut_short = dir.path() / "cut-short";
  {
    std::ofstream f(cut_short, std::ios::binary);
    f << std::string("\0\0\0\3abc\0\0\0\x10zz", 11);  // one whole frame, then 2 of 16 bytes
  }
  pipekit::command truncated = child({"echo"});
  truncated.set_stdin(pipekit::stdio::file(cut_short, pipekit::file_mode::read));
  pipekit::fan_in_options options;
  options.records = pipekit::record_format::frames;
  options.max_record_size = 1000;  // record 9 announces 4,830 bytes: refused before they are read
  pipekit::fan_in_result r;
  const std::string out =
      merged({truncated, child({"varied", "20", "5000", "A", "frames"}), child({"varied", "30", "100", "B", "frames"})},
             options, r);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.producers[0].error, pipekit::errc::protocol_error);
  EXPECT_EQ(r.producers[0].records, std::optional<std::uint64_t>(1));
  EXPECT_EQ(r.producers[1].error, pipekit::errc::message_too_large);
  EXPECT_EQ(r.producers[1].records, std::optional<std::uint64_t>(9));  // record 9 is the first long one
  EXPECT_FALSE(r.producers[2].error);
  bool whole = false;
  const std::vector<std::string_view> frames = cut_frames(out, whole);
  EXPECT_TRUE(whole);
  EXPECT_EQ(frames.size(), 1u + 9u + 30u);
  EXPECT_NE(std::find(frames.begin(), frames.end(), "abc"), frames.end());
}

TEST(fan_in, a_prefix_names_each_producer) {
  pipekit::fan_in_options options;
  options.prefix = [](std::size_t i) { return std::to_string(i) + ":"; };
  pipekit::fan_in_result r;
  const std::string out = merged({child({"lines", "2", "3", "a"}), child({"lines", "1", "2", "b"})}, options, r);
  EXPECT_TRUE(r.success());
  EXPECT_EQ(pipekit_test::split_lines(out).size(), 3u);
  EXPECT_NE(out.find("0:aaa\n"), std::string::npos) << out;
  EXPECT_NE(out.find("1:bb\n"), std::string::npos) << out;
}

TEST(fan_in, a_last_line_without_newline_is_written_whole_and_flagged) {
  pipekit::command partial = child({"spew", "10"});  // 10 pattern bytes, no '\n'
  pipekit::fan_in_result r;
  const std::string out = merged({partial, child({"lines", "1", "4", "z"})}, {}, r);
  EXPECT_TRUE(r.success());
  EXPECT_TRUE(r.producers[0].unterminated_last);
  EXPECT_NE(out.find(pipekit_test::pattern(10) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("zzzz\n"), std::string::npos) << out;
}

TEST(fan_in, a_line_over_the_bound_is_an_error_and_the_rest_stays_intact) {
  pipekit::fan_in_options options;
  options.max_record_size = 1000;
  pipekit::fan_in_result r;
  const std::string out = merged({child({"lines", "3", "5000", "x"}), child({"lines", "100", "10", "y"})}, options, r);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.producers[0].error, pipekit::errc::message_too_large);
  EXPECT_EQ(r.producers[0].records, std::optional<std::uint64_t>(0));
  EXPECT_FALSE(r.producers[1].error);
  EXPECT_EQ(r.producers[1].records, std::optional<std::uint64_t>(100));
  EXPECT_EQ(out, [] {
    std::string s;
    for (int i = 0; i < 100; ++i) s += "yyyyyyyyyy\n";
    return s;
  }());
}

TEST(fan_in, a_producer_that_cannot_start_is_reported_and_the_others_run) {
  pipekit::fan_in_result r;
  const std::string out = merged({pipekit::command{"pipekit-no-such-program"}, child({"lines", "2", "1", "q"})}, {}, r);
  EXPECT_EQ(out, "q\nq\n");
  EXPECT_TRUE(r.producers[0].stage.start_error);
  EXPECT_EQ(r.statuses().shell_code(), 127);
  EXPECT_FALSE(r.success());
}

TEST(fan_in, the_deadline_ends_every_producer) {
  pipekit::fan_in_options options;
  // Long enough for the quick producer to start and finish under Wine too
  // (a process start there takes ~300 ms); the sleeper needs 60 s.
  options.until = pipekit::after(3s);
  pipekit::fan_in_result r;
  const auto t0 = pipekit::clock::now();
  (void)merged({child({"sleep", "60000"}), child({"lines", "1", "1", "a"})}, options, r);
  EXPECT_LT(pipekit::clock::now() - t0, 30s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.producers[0].stage.status.success());
  EXPECT_TRUE(r.producers[1].stage.status.success());
}

TEST(fan_in, no_producers_is_invalid) {
  pipekit::pipe_pair p = pipekit::make_pipe();
  std::error_code ec;
  (void)pipekit::fan_in({}, p.write_end, {}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
}

}  // namespace
