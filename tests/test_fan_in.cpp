// pipekit::fan_in (pipekit/topology/fan_in.hpp) on both systems: producers'
// lines merged whole, with the child helper's `lines` mode as producers.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "helpers/test_support.hpp"
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
    EXPECT_EQ(p.records, 40u);
    EXPECT_EQ(p.bytes, 40u * 100001u);
    EXPECT_FALSE(p.unterminated_last);
  }
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
  EXPECT_EQ(r.producers[0].records, 0u);
  EXPECT_FALSE(r.producers[1].error);
  EXPECT_EQ(r.producers[1].records, 100u);
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
