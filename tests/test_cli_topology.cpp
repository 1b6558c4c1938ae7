// `pipekit pipe`, `fanin` and `fanout` on both systems (under Wine in CI),
// with the child helper as every stage: the contract a shell user relies on
// — bytes through whole, the pipefail status, 127 for a missing program,
// records never torn. Against bash, with ptys and the shell's tools as
// stages, the POSIX side is in test_cli_pipe.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "helpers/test_support.hpp"
#include "helpers/varied_records.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit_test::cli_path;

pipekit::run_result pipekit_cli(const std::vector<std::string>& args, std::string_view input = {}) {
  pipekit::command c{cli_path};
  c.args(args);
  std::error_code ec;
  pipekit::run_result r = pipekit::run(std::move(c), input, pipekit::after(120s), 1s, ec);
  EXPECT_FALSE(ec) << ec.message();
  return r;
}

// A STAGE running the child helper: its path in single quotes, so that a
// Windows path's backslashes are kept as they are.
std::string stage(const std::string& args) { return "'" + pipekit_test::child_path + "' " + args; }

int code(const pipekit::run_result& r) { return r.status.code().value_or(-1); }

TEST(cli_topology, pipe_moves_every_byte_and_gives_the_rightmost_failure) {
  const pipekit::run_result r = pipekit_cli({"pipe", stage("spew 3000000"), stage("echo"), stage("checksum")});
  EXPECT_EQ(code(r), 0) << r.err;
  EXPECT_EQ(r.out, pipekit_test::spew_checksum(3000000) + "\n");

  EXPECT_EQ(code(pipekit_cli({"pipe", stage("exit 3"), stage("exit 5"), stage("echo")})), 5);
  EXPECT_EQ(code(pipekit_cli({"pipe", stage("exit 3"), stage("echo")})), 3);
  const pipekit::run_result missing = pipekit_cli({"pipe", stage("spew 10"), "pipekit-no-such-program"});
  EXPECT_EQ(code(missing), 127);
  EXPECT_NE(missing.err.find("stage 2 (pipekit-no-such-program)"), std::string::npos) << missing.err;
  EXPECT_EQ(code(pipekit_cli({"pipe", "'unbalanced"})), 2);
}

TEST(cli_topology, pipe_stats_count_the_bytes_of_each_edge) {
  const pipekit::run_result r =
      pipekit_cli({"pipe", "--stats", stage("spew 1000000"), stage("echo"), stage("checksum")});
  EXPECT_EQ(code(r), 0) << r.err;
  EXPECT_EQ(r.out, pipekit_test::spew_checksum(1000000) + "\n");
  EXPECT_NE(r.err.find("edge 1 -> 2: 976.6 KiB (1000000 bytes)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("edge 2 -> 3: 976.6 KiB (1000000 bytes)"), std::string::npos) << r.err;
}

TEST(cli_topology, fanin_merges_records_of_every_size_whole) {
  constexpr std::size_t n = 120;
  constexpr std::size_t max = 300000;
  for (const bool frames : {false, true}) {
    SCOPED_TRACE(frames ? "frames" : "lines");
    std::vector<std::string> args{"fanin"};
    if (frames) args.emplace_back("--frames");
    for (const char* tag : {"A", "B", "C"})
      args.push_back(
          stage("varied " + std::to_string(n) + " " + std::to_string(max) + " " + tag + (frames ? " frames" : "")));
    const pipekit::run_result r = pipekit_cli(args);
    EXPECT_EQ(code(r), 0) << r.err;
    std::vector<std::string_view> records;
    std::string_view rest(r.out);
    while (!rest.empty()) {
      std::size_t len = 0;
      if (frames) {
        ASSERT_GE(rest.size(), 4u);
        const auto* b = reinterpret_cast<const unsigned char*>(rest.data());
        len = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) | (std::size_t{b[2]} << 8) | b[3];
        ASSERT_LE(len, rest.size() - 4) << "a frame cut short";
        records.push_back(rest.substr(4, len));
        rest.remove_prefix(4 + len);
      } else {
        len = rest.find('\n');
        ASSERT_NE(len, std::string_view::npos) << "the output ends inside a line";
        records.push_back(rest.substr(0, len));
        rest.remove_prefix(len + 1);
      }
    }
    std::map<char, std::size_t> next;
    for (const std::string_view rec : records) {
      ASSERT_FALSE(rec.empty());
      const char tag = rec[0];
      ASSERT_EQ(rec, pipekit_test::varied_record(std::string(1, tag), next[tag], max)) << "torn or out of order";
      ++next[tag];
    }
    EXPECT_EQ(next, (std::map<char, std::size_t>{{'A', n}, {'B', n}, {'C', n}}));
  }
}

TEST(cli_topology, fanin_tags_and_statuses) {
  const pipekit::run_result tagged = pipekit_cli({"fanin", "--tag", stage("lines 2 3 a"), stage("lines 1 2 b")});
  EXPECT_EQ(code(tagged), 0) << tagged.err;
  std::vector<std::string> lines = pipekit_test::split_lines(tagged.out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"1\taaa", "1\taaa", "2\tbb"}));
  EXPECT_EQ(code(pipekit_cli({"fanin", stage("exit 4"), stage("lines 1 1 x")})), 4);
  EXPECT_EQ(code(pipekit_cli({"fanin", "--tag", "--frames", stage("exit 0")})), 2);
}

TEST(cli_topology, fanout_copies_every_byte_to_each_and_scatter_deals_each_line_once) {
  const std::string input = pipekit_test::pattern(2000000);
  const pipekit::run_result copy = pipekit_cli({"fanout", stage("checksum"), stage("checksum")}, input);
  EXPECT_EQ(code(copy), 0) << copy.err;
  EXPECT_EQ(copy.out, pipekit_test::spew_checksum(2000000) + "\n" + pipekit_test::spew_checksum(2000000) + "\n");

  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += "line " + std::to_string(i) + "\n";
  const pipekit::run_result dealt = pipekit_cli({"fanout", "--scatter", stage("echo"), stage("echo")}, lines);
  EXPECT_EQ(code(dealt), 0) << dealt.err;
  std::vector<std::string> got = pipekit_test::split_lines(dealt.out);
  std::vector<std::string> want = pipekit_test::split_lines(lines);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(code(pipekit_cli({"fanout", stage("exit 6"), stage("checksum")}, "x\n")), 6);
}

}  // namespace
