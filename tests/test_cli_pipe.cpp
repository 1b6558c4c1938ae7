// `pipekit pipe` against its oracle, bash with `set -o pipefail`, run in the
// same test on the same stages: equal stdout bytes and equal exit status.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using pipekit_test::cli_path;

pipekit::run_result run_it(pipekit::command c) {
  std::error_code ec;
  pipekit::run_result r = pipekit::run(std::move(c), {}, pipekit::after(60s), 1s, ec);
  EXPECT_FALSE(ec) << ec.message();
  return r;
}

pipekit::run_result under_pipekit(const std::vector<std::string>& stages,
                                  const std::vector<std::string>& options = {}) {
  pipekit::command c{cli_path, "pipe"};
  c.args(options);
  c.args(stages);
  return run_it(std::move(c));
}

pipekit::run_result under_bash(const std::vector<std::string>& stages) {
  std::string script = "set -o pipefail; ";
  for (std::size_t i = 0; i < stages.size(); ++i) script += (i ? " | " : "") + stages[i];
  return run_it(pipekit::command{"bash", "-c", script});
}

class cli_pipe : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(dir_.path());
    // Binary data with every byte value, NULs and lines of all lengths.
    std::mt19937 gen(42);
    std::string bin(3 << 20, '\0');
    for (char& c : bin) c = static_cast<char>(gen() & 0xff);
    std::ofstream(root_ / "bin", std::ios::binary) << bin;
    std::ofstream(root_ / "script.sh") << "echo not executable\n";  // mode 0644: not executable
  }
  std::string path(const std::string& name) const { return (root_ / name).string(); }

  void expect_same(const std::vector<std::string>& stages, const std::string& why,
                   const std::vector<std::string>& options = {}) {
    const pipekit::run_result ours = under_pipekit(stages, options);
    const pipekit::run_result bash = under_bash(stages);
    EXPECT_EQ(ours.status.code(), bash.status.code())
        << why << "\nours: " << ours.status.to_string() << " stderr: " << ours.err
        << "\nbash: " << bash.status.to_string() << " stderr: " << bash.err;
    EXPECT_TRUE(ours.out == bash.out) << why << ": stdout differs (" << ours.out.size() << " vs " << bash.out.size()
                                      << " bytes)";
  }

  pipekit_test::temp_dir dir_;
  fs::path root_;
};

TEST_F(cli_pipe, output_and_status_equal_bash_with_pipefail) {
  expect_same({"printf 'b\\na\\nc\\nb\\n'", "sort", "uniq -c"}, "a plain chain");
  expect_same({"cat " + path("bin"), "gzip -c", "gunzip -c"}, "binary data");
  expect_same({"cat " + path("bin"), "od -An -tx1", "tail -n 3"}, "binary data turned into text");
  expect_same({"sh -c 'exit 3'", "cat"}, "a failing first stage");
  expect_same({"echo x", "sh -c 'cat; exit 4'", "sh -c 'cat; exit 0'"}, "a failing middle stage");
  expect_same({"sh -c 'exit 2'", "sh -c 'exit 5'", "true"}, "the rightmost failure wins");
  expect_same({"sh -c 'kill -9 $$'", "cat"}, "a stage killed by SIGKILL");
  expect_same({"sh -c 'kill $$'", "cat"}, "a stage killed by SIGTERM");
  expect_same({"yes", "head -5"}, "a stage that exits before reading all its input (SIGPIPE upstream)");
  expect_same({"seq 200000", "head -n 1"}, "early exit with a large producer");
  expect_same({"seq 30000", "head -n 1"}, "a producer of 170 KB: more than a shell's pipe holds, SIGPIPE as in bash");
  expect_same({"pipekit-no-such-program", "wc -l"}, "a missing program: 127");
  expect_same({"echo hi", "pipekit-no-such-program"}, "a missing program at the end");
  expect_same({path("script.sh"), "cat"}, "a file that is not executable: 126");
  expect_same({"cat " + path("no-such-file"), "cat"}, "a program that fails to open its input");
  expect_same({"printf 'no newline at the end'", "cat"}, "a last line without newline");
  expect_same({"true"}, "one stage");
  expect_same({"head -c 1000000 " + path("bin"), "tail -c 777"}, "binary tail");
  expect_same({"echo 'a  b'   \"c\\\"d\"", "cat -A"}, "quotes in a stage");
}

TEST_F(cli_pipe, metered_output_and_status_equal_bash_too) {
  const std::vector<std::string> stats{"--stats"};
  expect_same({"cat " + path("bin"), "gzip -c", "gunzip -c"}, "binary data, metered", stats);
  expect_same({"yes", "head -5"}, "early exit through a relay", stats);
  // A metered edge holds two 1 MiB pipes: a producer larger than that dies of SIGPIPE as in bash.
  expect_same({"seq 2000000", "head -n 1"}, "early exit with a large producer, metered", stats);
  expect_same({"sh -c 'exit 3'", "cat"}, "a failing stage, metered", stats);
  expect_same({"pipekit-no-such-program", "wc -l"}, "a missing program, metered", stats);
}

TEST_F(cli_pipe, stats_count_the_bytes_really_moved) {
  const pipekit::run_result r =
      under_pipekit({"head -c 1234567 " + path("bin"), "cat", "wc -c"}, {"--stats", "--json"});
  ASSERT_EQ(r.status.code(), 0) << r.err;
  EXPECT_EQ(r.out, "1234567\n");
  const auto doc = nlohmann::json::parse(r.err.substr(r.err.find('{')));
  ASSERT_EQ(doc["edges"].size(), 2u) << r.err;
  for (const auto& e : doc["edges"]) {
    EXPECT_EQ(e["bytes"], 1234567) << r.err;
    EXPECT_FALSE(e.contains("error")) << r.err;
  }
  EXPECT_EQ(doc["edges"][0]["from"], 0);
  EXPECT_EQ(doc["edges"][1]["to"], 2);
}

TEST_F(cli_pipe, a_long_chain_equals_bash) {
  std::vector<std::string> stages{"seq 5000"};
  for (int i = 0; i < 25; ++i) stages.push_back(i % 2 ? "cat" : "tr 1 1");
  stages.push_back("md5sum");
  expect_same(stages, "27 stages");
}

TEST_F(cli_pipe, input_and_output_files) {
  const pipekit::run_result r = under_pipekit({"gzip -c", "gunzip -c"}, {"-i", path("bin"), "-o", path("copy")});
  EXPECT_EQ(r.status.code(), 0) << r.err;
  std::ifstream a(path("bin"), std::ios::binary), b(path("copy"), std::ios::binary);
  const std::string x((std::istreambuf_iterator<char>(a)), {}), y((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(x.size(), std::size_t{3} << 20);
  EXPECT_TRUE(x == y);
}

TEST_F(cli_pipe, a_missing_input_file_is_status_1_and_named) {
  const pipekit::run_result r = under_pipekit({"cat", "wc -c"}, {"-i", path("no-such-input")});
  EXPECT_EQ(r.status.code(), 1);
  EXPECT_EQ(r.out, "0\n");
  EXPECT_NE(r.err.find("no-such-input"), std::string::npos) << r.err;
}

TEST_F(cli_pipe, a_missing_program_is_named_with_its_stage) {
  const pipekit::run_result r = under_pipekit({"echo x", "pipekit-no-such-program -v"});
  EXPECT_EQ(r.status.code(), 127);
  EXPECT_NE(r.err.find("stage 2 (pipekit-no-such-program): command not found"), std::string::npos) << r.err;
}

TEST_F(cli_pipe, timeout_ends_every_stage_with_124) {
  const auto t0 = std::chrono::steady_clock::now();
  const pipekit::run_result r = under_pipekit({"sleep 60", "sh -c 'sleep 60; cat'"}, {"--timeout", "0.3"});
  EXPECT_EQ(r.status.code(), 124) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  EXPECT_EQ(pipekit_test::zombie_children(), 0);
}

TEST_F(cli_pipe, stats_report_every_stage) {
  const pipekit::run_result r = under_pipekit({"sh -c 'exit 3'", "cat"}, {"--stats", "--json"});
  EXPECT_EQ(r.status.code(), 3);
  const auto brace = r.err.find('{');
  ASSERT_NE(brace, std::string::npos) << r.err;
  const std::string json = r.err.substr(brace);
  EXPECT_NE(json.find("\"status\":3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"argv\":[\"sh\",\"-c\",\"exit 3\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"exit_code\":3"), std::string::npos) << json;
}

TEST_F(cli_pipe, usage_errors_exit_2_with_one_line) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"pipe"}, {"pipe", "echo 'x"}, {"pipe", "--bogus", "true"}, {"pipe", "true", "   "}}) {
    pipekit::command c{cli_path};
    c.args(args);
    const pipekit::run_result r = run_it(std::move(c));
    EXPECT_EQ(r.status.code(), 2) << ::testing::PrintToString(args) << ": " << r.err;
    EXPECT_NE(r.err.find("pipekit: "), std::string::npos) << r.err;
  }
}

// `pipekit fanout` with the file as stdin, against each consumer reading the
// file itself: every consumer must see every byte.
TEST_F(cli_pipe, fanout_gives_every_stage_every_byte) {
  const std::vector<std::string> consumers = {"md5sum", "gzip -1 -n -c", "od -An -tx1"};
  pipekit::command c{cli_path, "fanout", "-o", path("ours")};
  c.args(consumers);
  c.set_stdin(pipekit::stdio::file(path("bin"), pipekit::file_mode::read));
  const pipekit::run_result r = run_it(std::move(c));
  ASSERT_EQ(r.status.code(), 0) << r.err;
  for (std::size_t i = 0; i < consumers.size(); ++i) {
    pipekit::command alone{"bash", "-c", consumers[i] + " < " + path("bin") + " > " + path("alone")};
    ASSERT_EQ(run_it(std::move(alone)).status.code(), 0);
    std::ifstream a(path("ours." + std::to_string(i)), std::ios::binary);
    std::ifstream b(path("alone"), std::ios::binary);
    const std::string ours((std::istreambuf_iterator<char>(a)), {});
    const std::string theirs((std::istreambuf_iterator<char>(b)), {});
    EXPECT_FALSE(ours.empty());
    EXPECT_TRUE(ours == theirs) << consumers[i] << ": " << ours.size() << " vs " << theirs.size() << " bytes";
  }
}

TEST(cli_fanout, merged_output_and_an_early_leaver) {
  // `head -1` leaves at once; `wc -l` still counts every line.
  pipekit::command c{"bash", "-c", "seq 1 200000 | " + cli_path + " fanout --stats 'head -1' 'wc -l'"};
  const pipekit::run_result r = run_it(std::move(c));
  EXPECT_EQ(r.status.code(), 0) << r.err;
  std::vector<std::string> lines = pipekit_test::split_lines(r.out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"1", "200000"}));
  EXPECT_NE(r.err.find("stage 2 (wc): exited with code 0, 1288895 bytes in"), std::string::npos) << r.err;
}

TEST(cli_fanout, scatter_deals_lines_in_turn_or_to_the_ready_one) {
  pipekit_test::temp_dir dir;
  const std::string prefix = (fs::path(dir.path()) / "part").string();
  pipekit::command c{"bash", "-c", "seq 1 1000 | " + cli_path + " fanout --scatter -o " + prefix + " cat cat cat"};
  ASSERT_EQ(run_it(std::move(c)).status.code(), 0);
  for (int i = 0; i < 3; ++i) {
    std::ifstream in(prefix + "." + std::to_string(i));
    std::string expected;
    for (int k = i + 1; k <= 1000; k += 3) expected += std::to_string(k) + "\n";
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), expected) << "part " << i;
  }
  pipekit::command ready{"bash", "-c",
                         "seq 1 100000 | " + cli_path + " fanout --scatter --ready cat 'sort -n' | sort -n"};
  const pipekit::run_result r = run_it(std::move(ready));
  EXPECT_EQ(r.status.code(), 0) << r.err;
  std::string expected;
  for (int k = 1; k <= 100000; ++k) expected += std::to_string(k) + "\n";
  EXPECT_TRUE(r.out == expected) << "every line once";
}

TEST(cli_fanout, statuses_and_usage_errors) {
  const auto status_of = [](const std::string& script) {
    pipekit::run_result r = run_it(pipekit::command{"bash", "-c", script});
    return r.status.code();
  };
  const std::string f = "seq 1 1000 | " + cli_path + " fanout ";
  EXPECT_EQ(status_of(f + "'sh -c \"cat >/dev/null; exit 3\"' 'cat'"), 3);
  EXPECT_EQ(status_of(f + "'pipekit-no-such-program' 'cat'"), 127);
  EXPECT_EQ(status_of(f + "--timeout 0.3 'sleep 30' 'cat'"), 124);
  EXPECT_EQ(status_of("head -c 50000000 /dev/zero | " + cli_path + " fanout --drop-slow 0.3 'sleep 2' 'wc -c'"), 1);
  EXPECT_EQ(status_of(f + "'echo \"unbalanced'"), 2);
  EXPECT_EQ(status_of(f), 2);  // no stages
  EXPECT_EQ(status_of(f + "--ready cat"), 2);
  EXPECT_EQ(status_of(f + "--no-such-flag cat"), 2);
}

}  // namespace

namespace {

// `pipekit fanin`: the same merge from the command line.
TEST(cli_fanin, eight_stages_of_100_kb_lines_tear_none_and_tag_says_whose) {
  std::vector<std::string> stages;
  for (int i = 0; i < 8; ++i)
    stages.push_back(pipekit_test::child_path + " lines 30 100000 " + std::string(1, static_cast<char>('a' + i)));
  pipekit::command c{cli_path, "fanin", "--tag"};
  c.args(stages);
  const pipekit::run_result r = run_it(std::move(c));
  ASSERT_EQ(r.status.code(), 0) << r.err;
  std::size_t start = 0;
  int lines = 0;
  for (std::size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1, ++lines) {
    const std::string_view line(r.out.data() + start, nl - start);
    const std::size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string_view::npos);
    const int stage = std::stoi(std::string(line.substr(0, tab)));
    const std::string_view body = line.substr(tab + 1);
    ASSERT_EQ(body.size(), 100000u) << "a torn line at byte " << start;
    EXPECT_EQ(body.find_first_not_of(static_cast<char>('a' + stage - 1)), std::string_view::npos)
        << "stage " << stage << " line mixed with another";
  }
  EXPECT_EQ(lines, 8 * 30);
}

TEST(cli_fanin, statuses_and_errors_like_pipe) {
  {
    pipekit::command c{cli_path, "fanin", "echo a", "sh -c 'exit 4'", "echo b"};
    const pipekit::run_result r = run_it(std::move(c));
    EXPECT_EQ(r.status.code(), 4) << r.err;
    EXPECT_EQ(pipekit_test::split_lines(r.out).size(), 2u);
  }
  {
    pipekit::command c{cli_path, "fanin", "echo a", "pipekit-no-such-program"};
    const pipekit::run_result r = run_it(std::move(c));
    EXPECT_EQ(r.status.code(), 127);
    EXPECT_NE(r.err.find("stage 2 (pipekit-no-such-program): command not found"), std::string::npos) << r.err;
  }
  {
    pipekit::command c{cli_path, "fanin", "--max-line", "10", "printf 'ok\\n0123456789abcdef\\n'"};
    const pipekit::run_result r = run_it(std::move(c));
    EXPECT_EQ(r.status.code(), 1);
    EXPECT_EQ(r.out, "ok\n");
    EXPECT_NE(r.err.find("longer than 10 bytes"), std::string::npos) << r.err;
  }
  {
    pipekit::command c{cli_path, "fanin", "--timeout", "0.3", "sleep 60", "echo x"};
    const pipekit::run_result r = run_it(std::move(c));
    EXPECT_EQ(r.status.code(), 124) << r.err;
  }
  {
    pipekit::command c{cli_path, "fanin", "echo 'unbalanced"};
    const pipekit::run_result r = run_it(std::move(c));
    EXPECT_EQ(r.status.code(), 2) << r.err;
  }
}

// ---- the live progress line, on a real terminal ---------------------------

// Runs `args` with stderr on a pty (stdin from `input`, or none; stdout
// into a pipe we drain) and returns what reached the terminal.
struct on_terminal {
  std::string terminal;
  std::string out;
  int code = -1;
};
on_terminal with_stderr_on_a_pty(const std::vector<std::string>& args, const fs::path& input = {}) {
  pipekit::command c{cli_path};
  c.args(args);
  c.set_stdin(input.empty() ? pipekit::stdio::null() : pipekit::stdio::file(input, pipekit::file_mode::read));
  c.set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pty());
  pipekit::process p = c.spawn();
  on_terminal r;
  std::thread drain([&] { r.out = p.out().read_to_end(); });
  const auto until = pipekit::after(60s);
  std::byte buf[4096];
  for (;;) {  // until the other side is closed (EIO on Linux) or the deadline
    std::error_code ec;
    const std::size_t n = p.terminal().read_some(buf, until, ec);
    if (ec || n == 0) break;
    r.terminal.append(reinterpret_cast<const char*>(buf), n);
  }
  drain.join();
  const std::optional<pipekit::exit_status> s = p.wait_until(pipekit::after(30s));
  EXPECT_TRUE(s.has_value()) << "pipekit hung; its terminal: " << r.terminal;
  if (s && s->code()) r.code = *s->code();
  return r;
}

TEST(cli_progress_line, pipe_draws_each_edge_in_place_and_erases_it_at_the_end) {
  // About 3 s: 30 MB read by a consumer that sleeps 100 ms per MiB.
  const std::string child = pipekit_test::child_path;
  const on_terminal r =
      with_stderr_on_a_pty({"pipe", child + " spew 30000000", child + " echo", child + " checksum 100"});
  EXPECT_EQ(r.code, 0) << r.terminal;
  EXPECT_NE(r.terminal.find("\r1>2 "), std::string::npos) << r.terminal;
  EXPECT_NE(r.terminal.find(" | 2>3 "), std::string::npos) << r.terminal;
  EXPECT_NE(r.terminal.find("MiB/s"), std::string::npos) << r.terminal;
  EXPECT_EQ(r.terminal.find('\n'), std::string::npos) << "the live line never ends a line: " << r.terminal;
  // Erased: the last thing written blanks the line and returns to its start.
  ASSERT_GE(r.terminal.size(), 2u);
  EXPECT_EQ(r.terminal.back(), '\r');
  EXPECT_EQ(r.terminal.find_first_not_of(' ', r.terminal.rfind('\r', r.terminal.size() - 2) + 1),
            r.terminal.size() - 1);
  EXPECT_EQ(r.out.substr(0, 9), "30000000 ") << r.out;  // every byte reached the last stage
}

TEST(cli_progress_line, quiet_or_a_short_run_draws_nothing) {
  const std::string child = pipekit_test::child_path;
  const on_terminal quiet =
      with_stderr_on_a_pty({"pipe", "--quiet", child + " spew 30000000", child + " checksum 100"});
  EXPECT_EQ(quiet.code, 0);
  EXPECT_EQ(quiet.terminal, "");
  const on_terminal quick = with_stderr_on_a_pty({"pipe", "echo hi", "cat"});
  EXPECT_EQ(quick.code, 0);
  EXPECT_EQ(quick.out, "hi\n");
  EXPECT_EQ(quick.terminal, "");
}

TEST(cli_progress_line, fanin_and_fanout_draw_theirs_too) {
  pipekit_test::temp_dir dir;
  const fs::path big = dir.path() / "big";
  std::ofstream(big, std::ios::binary) << std::string(30000000, 'x');
  const std::string child = pipekit_test::child_path;
  const on_terminal out = with_stderr_on_a_pty({"fanout", child + " checksum 100", "wc -c"}, big);
  EXPECT_EQ(out.code, 0) << out.terminal;
  EXPECT_NE(out.terminal.find("\rin>1 "), std::string::npos) << out.terminal;
  EXPECT_NE(out.terminal.find(" | in>2 "), std::string::npos) << out.terminal;
  EXPECT_EQ(out.terminal.back(), '\r') << out.terminal;
  EXPECT_NE(out.out.find("30000000\n"), std::string::npos) << out.out;

  const on_terminal in =
      with_stderr_on_a_pty({"fanin", "sh -c 'for i in 1 2 3 4; do echo x; sleep 0.5; done'", "echo y"});
  EXPECT_EQ(in.code, 0) << in.terminal;
  EXPECT_NE(in.terminal.find("\r1>out "), std::string::npos) << in.terminal;
  EXPECT_NE(in.terminal.find(" | 2>out "), std::string::npos) << in.terminal;
  EXPECT_EQ(in.terminal.back(), '\r') << in.terminal;
  EXPECT_EQ(in.out.size(), 10u);
}

// --stats and errors print after the live line is erased, on a clean line.
TEST(cli_progress_line, what_follows_it_starts_on_a_clean_line) {
  const std::string child = pipekit_test::child_path;
  const on_terminal r = with_stderr_on_a_pty({"pipe", "--stats", child + " spew 30000000", child + " checksum 100"});
  EXPECT_EQ(r.code, 0);
  const std::size_t stats = r.terminal.find("pipekit: stage 1");
  ASSERT_NE(stats, std::string::npos) << r.terminal;
  ASSERT_GT(stats, 0u) << "the live line was never drawn: " << r.terminal;
  EXPECT_EQ(r.terminal[stats - 1], '\r') << r.terminal;
}

}  // namespace
