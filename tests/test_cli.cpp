// The `pipekit` command, driven as a user would drive it: as a separate
// program, started (of course) with pipekit itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string cli_path = PIPEKIT_CLI_PATH;
const std::string child_path = PIPEKIT_CHILD_PATH;

// `pipekit ARGS...` to completion, with `input` on its stdin.
pipekit::run_result cli(const std::vector<std::string>& args, std::string_view input = {}) {
  pipekit::command c{cli_path};
  c.args(args);
  std::error_code ec;
  pipekit::run_result r = pipekit::run(std::move(c), input, pipekit::after(60s), 1s, ec);
  EXPECT_FALSE(ec) << "pipekit " << ::testing::PrintToString(args) << ": " << ec.message();
  return r;
}

int exit_code(const pipekit::run_result& r) {
  EXPECT_FALSE(r.status.was_signaled()) << r.status.to_string() << "\nstderr: " << r.err;
  return r.status.code().value_or(-1);
}

// A directory of our own under the system's temporary directory.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "pipekit-cli-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = fs::canonical(tmpl);  // what getcwd() will say
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The state letter from /proc/<pid>/stat, or nullopt once the pid is gone.
std::optional<char> process_state(int pid) {
  const std::string stat = read_file(fs::path("/proc") / std::to_string(pid) / "stat");
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return std::nullopt;
  return stat[close + 2];
}

// True once `pid` has ended. A zombie has ended too: it only waits for its
// new parent (init, or whoever adopts orphans) to collect it.
bool ended_within(int pid, std::chrono::milliseconds limit) {
  const pipekit::deadline until = pipekit::after(limit);
  for (;;) {
    const bool gone = ::kill(pid, 0) != 0 && errno == ESRCH;
    const std::optional<char> state = process_state(pid);
    if (gone || !state || *state == 'Z' || *state == 'X') return true;
    if (pipekit::clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// Live processes whose environment holds `entry` ("NAME=value") and, when
// given, whose command line is exactly `cmdline` (arguments joined by '\0').
// A zombie's environment reads as empty, so only live processes match.
std::vector<int> processes_with(const std::string& entry, const std::string& cmdline = {}) {
  std::vector<int> found;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!cmdline.empty() && read_file(e.path() / "cmdline") != cmdline) continue;
    const std::string env = read_file(e.path() / "environ");
    std::size_t start = 0;
    for (std::size_t end; (end = env.find('\0', start)) != std::string::npos; start = end + 1) {
      if (env.compare(start, end - start, entry) == 0) {
        found.push_back(std::stoi(name));
        break;
      }
    }
  }
  return found;
}

std::string unique_marker() {
  static int n = 0;
  return "PIPEKIT_CLI_TEST_MARKER=" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

// Reads a pty master until the other side is closed (EIO) or `until`.
std::string read_terminal(pipekit::handle_stream& terminal, pipekit::deadline until) {
  std::string out;
  std::byte buf[4096];
  for (;;) {
    std::error_code ec;
    const std::size_t n = terminal.read_some(buf, until, ec);
    if (ec || n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), n);
  }
  return out;
}

std::size_t count_of(const std::string& text, const std::string& word) {
  std::size_t n = 0;
  for (std::size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + word.size())) ++n;
  return n;
}

}  // namespace

// ---- --version, limits, tour --------------------------------------------------

TEST(cli, version_prints_the_project_version) {
  const auto r = cli({"--version"});
  EXPECT_EQ(exit_code(r), 0);
  EXPECT_EQ(r.out, "pipekit " PIPEKIT_PROJECT_VERSION "\n");
}

TEST(cli, limits_json_parses_and_has_every_key) {
  const auto r = cli({"limits", "--json"});
  ASSERT_EQ(exit_code(r), 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_object());
  for (const char* key : {"pipe_default_capacity", "pipe_max_capacity", "pipe_atomic_write", "pipe_user_pages_soft",
                          "pipe_user_pages_hard", "descriptors_soft", "descriptors_hard", "processes_soft",
                          "processes_hard", "pipekit_pipe_capacity"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_TRUE(j[key].is_null() || j[key].is_number_unsigned()) << key << ": " << j[key];
  }
  EXPECT_GE(j["pipe_atomic_write"].get<std::uint64_t>(), 512u);  // POSIX minimum for PIPE_BUF
  EXPECT_GT(j["pipe_default_capacity"].get<std::uint64_t>(), 0u);
}

TEST(cli, limits_table_says_unlimited_instead_of_a_number_when_there_is_no_limit) {
  const auto r = cli({"limits"});
  ASSERT_EQ(exit_code(r), 0) << r.err;
  EXPECT_NE(r.out.find("pipe capacity, default"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PIPE_BUF"), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(cli({"limits", "--json"}).out);
  bool any_unlimited = false;
  for (const char* key : {"pipe_user_pages_soft", "pipe_user_pages_hard", "descriptors_soft", "descriptors_hard",
                          "processes_soft", "processes_hard"})
    any_unlimited = any_unlimited || j[key].is_null();
  EXPECT_EQ(r.out.find("unlimited") != std::string::npos, any_unlimited) << r.out;
}

TEST(cli, tour_runs_every_section_successfully) {
  const auto r = cli({"tour"});
  EXPECT_EQ(exit_code(r), 0) << r.out << r.err;
  // "N of N sections worked", whatever N the tour has grown to.
  const std::regex all_worked(R"((\d+) of \1 sections worked)");
  EXPECT_TRUE(std::regex_search(r.out, all_worked)) << r.out;
  EXPECT_NE(r.out.find("local server"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAILED"), std::string::npos) << r.out;
}

TEST(cli, usage_errors_exit_2_and_run_usage_errors_exit_125_like_timeout) {
  EXPECT_EQ(exit_code(cli({})), 2);
  EXPECT_EQ(exit_code(cli({"no-such-subcommand"})), 2);
  EXPECT_EQ(exit_code(cli({"limits", "--", "extra"})), 2);
  const auto bad_timeout = cli({"run", "--timeout", "soon", "--", child_path, "exit", "0"});
  EXPECT_EQ(exit_code(bad_timeout), 125);
  EXPECT_NE(bad_timeout.err.find("--timeout"), std::string::npos) << bad_timeout.err;
  EXPECT_EQ(exit_code(cli({"run", "--env", "NO_EQUALS_SIGN", "--", child_path, "exit", "0"})), 125);
  EXPECT_EQ(exit_code(cli({"run"})), 125);
}

// ---- run: status ----------------------------------------------------------------

TEST(cli, run_passes_the_exit_status_through) {
  EXPECT_EQ(exit_code(cli({"run", "--", child_path, "exit", "7"})), 7);
  EXPECT_EQ(exit_code(cli({"run", "--", child_path, "exit", "0"})), 0);
  // Without "--", the first argument that is not an option starts the command.
  EXPECT_EQ(exit_code(cli({"run", child_path, "exit", "3"})), 3);
}

TEST(cli, run_reports_death_by_signal_n_as_128_plus_n) {
  EXPECT_EQ(exit_code(cli({"run", "--", child_path, "signal", "9"})), 128 + SIGKILL);
  EXPECT_EQ(exit_code(cli({"run", "--", child_path, "signal", "15"})), 128 + SIGTERM);
}

TEST(cli, run_missing_program_exits_127_and_says_which_and_why) {
  const auto r = cli({"run", "--", "pipekit-cli-test-no-such-program"});
  EXPECT_EQ(exit_code(r), 127);
  EXPECT_EQ(r.err, "pipekit: cannot run 'pipekit-cli-test-no-such-program': No such file or directory\n");
}

TEST(cli, run_non_executable_file_exits_126) {
  const temp_dir dir;
  const fs::path script = dir.write("not-executable.sh", "#!/bin/sh\nexit 0\n");
  ::chmod(script.c_str(), 0644);
  const auto r = cli({"run", "--", script.string()});
  EXPECT_EQ(exit_code(r), 126);
  EXPECT_NE(r.err.find("cannot run '" + script.string() + "'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

TEST(cli, run_that_cannot_enter_its_directory_exits_125_naming_it) {
  const auto r = cli({"run", "--cwd", "/pipekit-cli-test-no-such-dir", "--", child_path, "print-cwd"});
  EXPECT_EQ(exit_code(r), 125);
  EXPECT_NE(r.err.find("/pipekit-cli-test-no-such-dir"), std::string::npos) << r.err;
}

// ---- run: what the command gets -----------------------------------------------------

TEST(cli, run_passes_stdin_stdout_and_stderr_through) {
  const auto r = cli({"run", "--", child_path, "echo"}, "through stdin and stdout\n");
  EXPECT_EQ(exit_code(r), 0);
  EXPECT_EQ(r.out, "through stdin and stdout\n");
  const auto e = cli({"run", "--", child_path, "spew", "1000", "2"});
  EXPECT_EQ(exit_code(e), 0);
  EXPECT_EQ(e.out, "");
  EXPECT_EQ(e.err.size(), 1000u);
}

TEST(cli, run_cwd_sets_the_working_directory) {
  const temp_dir dir;
  const auto r = cli({"run", "--cwd", dir.path().string(), "--", child_path, "print-cwd"});
  EXPECT_EQ(exit_code(r), 0) << r.err;
  EXPECT_EQ(r.out, dir.path().string() + "\n");
}

TEST(cli, run_env_sets_variables_and_keeps_the_rest) {
  const auto r =
      cli({"run", "--env", "PIPEKIT_CLI_A=one two", "--env", "PIPEKIT_CLI_B=x=y", "--", child_path, "print-env"});
  EXPECT_EQ(exit_code(r), 0) << r.err;
  EXPECT_NE(r.out.find("\nPIPEKIT_CLI_A=one two\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nPIPEKIT_CLI_B=x=y\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nPATH="), std::string::npos) << "the parent's environment is kept";
  const auto one = cli({"run", "--env", "PIPEKIT_CLI_A=1", "--", child_path, "print-env", "PIPEKIT_CLI_A"});
  EXPECT_EQ(one.out, "1\n");
}

TEST(cli, run_stdin_reads_the_commands_input_from_a_file) {
  const temp_dir dir;
  const fs::path input = dir.write("input.txt", "line one\nline two\n");
  const auto r = cli({"run", "--stdin", input.string(), "--", child_path, "echo"}, "not this\n");
  EXPECT_EQ(exit_code(r), 0) << r.err;
  EXPECT_EQ(r.out, "line one\nline two\n");
  const auto missing = cli({"run", "--stdin", (dir.path() / "missing").string(), "--", child_path, "echo"});
  EXPECT_EQ(exit_code(missing), 125);
  EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos) << missing.err;
}

// ---- run --pty ----------------------------------------------------------------------

TEST(cli, run_pty_gives_the_command_a_controlling_terminal) {
  const auto r = cli({"run", "--pty", "--", child_path, "tty"});
  EXPECT_EQ(exit_code(r), 0) << r.err;
  EXPECT_EQ(r.out, "tty\r\n");  // the terminal's output processing adds \r
  EXPECT_EQ(cli({"run", "--", child_path, "tty"}).out, "notty\n");
}

TEST(cli, run_pty_relays_our_input_and_ends_it_at_our_end_of_file) {
  // child `echo` copies its terminal to its terminal until end of file: the
  // line appears twice (the terminal's echo, then the copy), and it exits
  // only if our end of input reached it.
  const auto r = cli({"run", "--pty", "--", child_path, "echo"}, "ping\n");
  EXPECT_EQ(exit_code(r), 0) << r.err;
  EXPECT_EQ(count_of(r.out, "ping\r\n"), 2u) << r.out;
}

TEST(cli, run_pty_passes_the_exit_status_through) {
  EXPECT_EQ(exit_code(cli({"run", "--pty", "--", child_path, "exit", "3"})), 3);
  EXPECT_EQ(exit_code(cli({"run", "--pty", "--", child_path, "signal", "9"})), 128 + SIGKILL);
}

// ---- run: timeouts and signals ------------------------------------------------------

TEST(cli, run_timeout_kills_whole_tree) {
  // The command starts a grandchild and prints its pid; the grandchild would
  // sleep for a minute holding our stdout.
  const auto start = std::chrono::steady_clock::now();
  const auto r = cli({"run", "--timeout", "1", "--", child_path, "spawn-grandchild"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(exit_code(r), 124) << r.err;
  EXPECT_LT(took, 3s);  // the issue's bound: one second, then the whole tree goes at once
  const int grandchild = std::atoi(r.out.c_str());
  ASSERT_GT(grandchild, 0) << "stdout: " << r.out;
  EXPECT_TRUE(ended_within(grandchild, 1s)) << "grandchild " << grandchild << " survived the timeout";
}

TEST(cli, run_timeout_kills_a_shell_and_its_background_sleeps) {
  // The literal command from the issue. The sleeps carry a marker in their
  // environment, so no other process on the machine can be mistaken for them.
  const std::string marker = unique_marker();
  const std::string marker_value = marker.substr(marker.find('=') + 1);
  const std::string sleep_60{
      "sleep\0"
      "60\0",
      9};
  pipekit::command c{cli_path};
  c.args({"run", "--timeout", "1", "--env", marker, "--", "sh", "-c", "sleep 60 & sleep 60"});
  c.set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::null()).set_stderr(pipekit::stdio::pipe());
  const auto start = std::chrono::steady_clock::now();
  pipekit::process p = c.spawn();

  // Both sleeps exist before the timeout: proof that the check below can see them.
  std::vector<int> sleeps;
  for (const auto until = pipekit::after(900ms); sleeps.size() < 2 && pipekit::clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
    sleeps = processes_with(marker, sleep_60);
  }
  EXPECT_EQ(sleeps.size(), 2u) << "expected the two `sleep 60` processes while the command runs";

  const std::optional<pipekit::exit_status> s = p.wait_until(pipekit::after(10s));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(s.has_value()) << "pipekit run did not return";
  EXPECT_EQ(s->code(), 124) << s->to_string() << " " << p.err().read_to_end();
  EXPECT_LT(took, 3s);
  for (const int pid : sleeps) EXPECT_TRUE(ended_within(pid, 1s)) << "sleep " << pid << " survived";
  EXPECT_TRUE(processes_with(marker).empty()) << "a process of the command's tree survived";
}

TEST(cli, run_timeout_ends_a_command_that_ignores_sigterm_after_kill_after) {
  // Would run for a minute if SIGKILL did not follow SIGTERM.
  const auto r = cli({"run", "--timeout", "0.2", "--kill-after", "0.3", "--", child_path, "ignore-term", "60000"});
  EXPECT_EQ(exit_code(r), 124) << r.err;
}

TEST(cli, run_passes_sigint_sigterm_and_sighup_on_to_the_commands_group) {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(::testing::Message() << "signal " << sig);
    pipekit::command c{cli_path};
    c.args({"run", "--", child_path, "spawn-grandchild"});
    c.set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::pipe());
    pipekit::process p = c.spawn();
    // The grandchild's pid on stdout means the command runs, so `pipekit
    // run` has its handlers in place (they are installed before the spawn).
    std::string line;
    std::byte b[64];
    while (line.find('\n') == std::string::npos) {
      std::error_code ec;
      const std::size_t n = p.out().read_some(b, pipekit::after(10s), ec);
      ASSERT_FALSE(ec) << ec.message();
      ASSERT_GT(n, 0u) << "stdout closed early";
      line.append(reinterpret_cast<const char*>(b), n);
    }
    const int grandchild = std::atoi(line.c_str());
    ASSERT_GT(grandchild, 0) << line;

    p.send_signal(sig);  // to `pipekit run` alone, as kill(1) or a supervisor would
    const std::optional<pipekit::exit_status> s = p.wait_until(pipekit::after(10s));
    ASSERT_TRUE(s.has_value()) << "pipekit run did not pass the signal on";
    EXPECT_EQ(s->code(), 128 + sig) << s->to_string();
    EXPECT_TRUE(ended_within(grandchild, 1s)) << "the signal did not reach the whole group";
  }
}

TEST(cli, run_in_the_foreground_of_a_terminal_lends_it_to_the_command) {
  // `pipekit run` on a terminal, as from an interactive shell. The command
  // leads its own process group; unless pipekit run makes that group the
  // terminal's foreground group, reading the terminal stops it (SIGTTIN)
  // and this test times out.
  pipekit::command c{cli_path};
  c.args({"run", "--", child_path, "echo"});
  c.set_stdin(pipekit::stdio::pty()).set_stdout(pipekit::stdio::pty()).set_stderr(pipekit::stdio::pty());
  pipekit::process p = c.spawn();
  p.terminal().write_all("ping\n\x04");  // a line, then end of file (^D)
  const std::string out = read_terminal(p.terminal(), pipekit::after(10s));
  const std::optional<pipekit::exit_status> s = p.wait_until(pipekit::after(10s));
  ASSERT_TRUE(s.has_value()) << "pipekit run hung; terminal output: " << out;
  EXPECT_EQ(s->code(), 0) << s->to_string() << "; terminal output: " << out;
  EXPECT_EQ(count_of(out, "ping\r\n"), 2u) << out;  // the terminal's echo, then the command's copy
}

TEST(cli, run_passes_inherited_descriptors_through_like_timeout) {
  // `pipekit run -- sh -c 'cat <&4 >&3' 3>out 4<in`, from a shell.
  temp_dir dir;
  const fs::path in_path = dir.write("in", "through descriptors 4 and 3\n");
  const fs::path out_path = dir.path() / "out";
  const std::string line =
      "'" + cli_path + "' run -- sh -c 'cat <&4 >&3' 3>'" + out_path.string() + "' 4<'" + in_path.string() + "'";
  const auto r = pipekit::run(pipekit::command{"sh", "-c", line});
  EXPECT_EQ(exit_code(r), 0) << r.err;
  EXPECT_EQ(read_file(out_path), "through descriptors 4 and 3\n");
  // timeout(1), the tool compared with, does the same.
  std::filesystem::remove(out_path);
  const auto t = pipekit::run(pipekit::command{
      "sh", "-c", "timeout 10 sh -c 'cat <&4 >&3' 3>'" + out_path.string() + "' 4<'" + in_path.string() + "'"});
  EXPECT_EQ(exit_code(t), 0) << t.err;
  EXPECT_EQ(read_file(out_path), "through descriptors 4 and 3\n");
  // --close-fds: only 0, 1 and 2 reach the command.
  const auto closed = pipekit::run(pipekit::command{
      "sh", "-c", "'" + cli_path + "' run --close-fds -- sh -c 'cat <&4' 4<'" + in_path.string() + "'"});
  EXPECT_NE(exit_code(closed), 0);
  EXPECT_NE(closed.err.find("4"), std::string::npos) << closed.err;
}

TEST(cli, run_timeout_kills_descendants_that_left_the_group_or_were_orphaned) {
  // `setsid sleep &` leaves the group; `(setsid sleep &)` is also orphaned
  // at once (its subshell exits). timeout(1) leaves both running.
  const std::string marker = unique_marker();
  pipekit::command c{cli_path};
  c.args({"run", "--timeout", "1", "--kill-after", "1", "--env", marker, "--", "sh", "-c",
          "setsid sleep 60 & (setsid sleep 61 &); sleep 62"});
  c.set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::null()).set_stderr(pipekit::stdio::pipe());
  pipekit::process p = c.spawn();
  std::vector<int> sleeps;
  for (const auto until = pipekit::after(900ms); sleeps.size() < 3 && pipekit::clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
    sleeps = processes_with(marker);
    std::erase_if(sleeps,
                  [](int pid) { return read_file(fs::path("/proc") / std::to_string(pid) / "comm") != "sleep\n"; });
  }
  ASSERT_EQ(sleeps.size(), 3u) << "expected three sleeps while the command runs";
  const std::optional<pipekit::exit_status> s = p.wait_until(pipekit::after(10s));
  ASSERT_TRUE(s.has_value()) << "pipekit run did not return";
  EXPECT_EQ(s->code(), 124) << s->to_string() << " " << p.err().read_to_end();
  for (const int pid : sleeps) EXPECT_TRUE(ended_within(pid, 1s)) << "sleep " << pid << " survived";
  EXPECT_TRUE(processes_with(marker).empty()) << "a process of the command's tree survived";
}
