// `pipekit.exe run` and `pipekit.exe limits`, driven through pipekit itself,
// under Wine: the same contract as tests/test_cli.cpp on POSIX (exit status
// passed through, 124 on timeout with the whole tree ended, 127 when the
// program is missing).
#include <gtest/gtest.h>
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;

// The build's paths are Unix paths; Wine's Z: drive is the Unix root.
std::string windows_path(std::string p) {
  if (!p.empty() && p.front() == '/') p = "Z:" + p;
  std::replace(p.begin(), p.end(), '/', '\\');
  return p;
}

const std::string cli_path = windows_path(PIPEKIT_CLI_PATH);
const std::string child_path = windows_path(PIPEKIT_CHILD_PATH);

pipekit::run_result pipekit_cli(std::initializer_list<std::string> args, std::string_view input = {}) {
  pipekit::command c{cli_path};
  for (const auto& a : args) c.arg(a);
  return pipekit::run(std::move(c), input, pipekit::after(60s));
}

TEST(windows_cli, version_matches_the_project) {
  const auto r = pipekit_cli({"--version"});
  // Text written through std::cout ends lines with CRLF on Windows, as Windows tools do.
  EXPECT_EQ(r.out, std::string("pipekit ") + PIPEKIT_PROJECT_VERSION + "\r\n");
  EXPECT_TRUE(r.status.success());
}

TEST(windows_cli, run_passes_the_exit_status_through) {
  EXPECT_EQ(pipekit_cli({"run", "--", child_path, "exit", "7"}).status.code(), 7);
  EXPECT_EQ(pipekit_cli({"run", "--", child_path, "exit", "0"}).status.code(), 0);
}

TEST(windows_cli, run_of_a_missing_program_exits_127_and_names_it) {
  const auto r = pipekit_cli({"run", "--", "pipekit-no-such-program"});
  EXPECT_EQ(r.status.code(), 127);
  EXPECT_NE(r.err.find("pipekit-no-such-program"), std::string::npos) << r.err;
}

TEST(windows_cli, run_timeout_ends_the_whole_tree_and_exits_124) {
  const auto start = pipekit::clock::now();
  const auto r = pipekit_cli({"run", "--timeout", "1", "--", child_path, "spawn-grandchild"});
  EXPECT_LT(pipekit::clock::now() - start, 10s);  // Wine start-up included; the bound on POSIX is 3 s
  EXPECT_EQ(r.status.code(), 124);
  ASSERT_FALSE(r.out.empty());
  const DWORD grandchild = static_cast<DWORD>(std::stoul(r.out));
  HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, grandchild);
  if (h != nullptr) {
    EXPECT_EQ(::WaitForSingleObject(h, 2000), WAIT_OBJECT_0) << "grandchild " << grandchild << " survived";
    ::CloseHandle(h);
  }
}

TEST(windows_cli, run_applies_cwd_env_and_stdin) {
  char temp[MAX_PATH];
  ASSERT_GT(::GetTempPathA(MAX_PATH, temp), 0u);
  std::string dir = temp;
  if (dir.size() > 3 && dir.back() == '\\') dir.pop_back();
  auto r = pipekit_cli({"run", "--cwd", dir, "--", child_path, "print-cwd"});
  EXPECT_EQ(r.out, dir + "\n");
  r = pipekit_cli({"run", "--env", "PIPEKIT_CLI_X=42", "--", child_path, "print-env", "PIPEKIT_CLI_X"});
  EXPECT_EQ(r.out, "42\n");
  const std::string input = dir + "\\pipekit-cli-stdin.txt";
  HANDLE f = ::CreateFileA(input.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  ASSERT_NE(f, INVALID_HANDLE_VALUE);
  DWORD written = 0;
  ::WriteFile(f, "from a file", 11, &written, nullptr);
  ::CloseHandle(f);
  r = pipekit_cli({"run", "--stdin", input, "--", child_path, "echo"});
  EXPECT_EQ(r.out, "from a file");
  ::DeleteFileA(input.c_str());
}

// ---- run: timeout(1)'s options, as far as Windows has them -------------------------

TEST(windows_cli, run_takes_durations_with_units_and_refuses_nan_and_infinity) {
  EXPECT_EQ(pipekit_cli({"run", "--timeout", "500ms", "--", child_path, "sleep", "60000"}).status.code(), 124);
  EXPECT_EQ(pipekit_cli({"run", "--timeout", "1m", "--", child_path, "exit", "3"}).status.code(), 3);
  for (const char* bad : {"nan", "inf", "-1", "1x"}) {
    const auto r = pipekit_cli({"run", "--timeout", bad, "--", child_path, "exit", "0"});
    EXPECT_EQ(r.status.code(), 125) << bad;
    EXPECT_EQ(r.err.rfind("pipekit: --timeout: ", 0), 0u) << r.err;
  }
}

TEST(windows_cli, run_signals_are_term_and_kill_and_kill_exits_137) {
  // Both end the job at once; 137 says SIGKILL's name was used, as on POSIX.
  EXPECT_EQ(pipekit_cli({"run", "-s", "KILL", "--timeout", "0.3", "--", child_path, "sleep", "60000"}).status.code(),
            137);
  EXPECT_EQ(pipekit_cli({"run", "-s", "TERM", "-k", "1", "--timeout", "0.3", "--", child_path, "sleep", "60000"})
                .status.code(),
            124);
  const auto r = pipekit_cli({"run", "-s", "INT", "--timeout", "0.3", "--", child_path, "exit", "0"});
  EXPECT_EQ(r.status.code(), 125);
  EXPECT_NE(r.err.find("Windows: TERM or KILL"), std::string::npos) << r.err;
}

TEST(windows_cli, run_preserve_status_and_verbose) {
  // TerminateJobObject ends the command with exit code 1.
  auto r = pipekit_cli({"run", "--preserve-status", "--timeout", "0.3", "--", child_path, "sleep", "60000"});
  EXPECT_EQ(r.status.code(), 1) << r.err;
  r = pipekit_cli({"run", "-v", "--timeout", "0.3", "--", child_path, "sleep", "60000"});
  EXPECT_EQ(r.status.code(), 124);
  // (stderr is in text mode: "\r\n")
  EXPECT_EQ(r.err.rfind("pipekit: sending signal TERM to command '" + child_path + "'\r\n", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find("KILL"), std::string::npos) << r.err;
}

TEST(windows_cli, run_foreground_ends_only_the_command_on_timeout) {
  pipekit::command c{cli_path};
  c.args({"run", "--foreground", "--timeout", "0.5", "--", child_path, "spawn-grandchild"});
  c.set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::pipe());
  pipekit::process p = c.spawn();
  std::string line;  // the grandchild keeps our stdout open: read its pid, not to the end
  std::byte b[64];
  while (line.find('\n') == std::string::npos) {
    std::error_code ec;
    const std::size_t n = p.out().read_some(b, pipekit::after(30s), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(n, 0u) << "stdout closed early";
    line.append(reinterpret_cast<const char*>(b), n);
  }
  const auto s = p.wait_until(pipekit::after(30s));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->code(), 124);
  const DWORD grandchild = static_cast<DWORD>(std::stoul(line));
  HANDLE h = ::OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, grandchild);
  ASSERT_NE(h, nullptr) << "grandchild " << grandchild << " is gone";
  EXPECT_EQ(::WaitForSingleObject(h, 0), static_cast<DWORD>(WAIT_TIMEOUT)) << "the grandchild was ended too";
  ::TerminateProcess(h, 1);
  ::CloseHandle(h);
}

// ---- one convention for every subcommand --------------------------------------------

TEST(windows_cli, usage_errors_unknown_commands_and_help) {
  auto r = pipekit_cli({"bogus"});
  EXPECT_EQ(r.status.code(), 2);
  EXPECT_EQ(r.err.rfind("pipekit: unknown command 'bogus'", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("  msg "), std::string::npos) << r.err;
  r = pipekit_cli({"help", "msg", "recv"});
  EXPECT_EQ(r.status.code(), 0) << r.err;
  EXPECT_NE(r.out.find("Usage: pipekit msg recv"), std::string::npos) << r.out;
  r = pipekit_cli({"msg", "recv", "handle:1", "--count", "-1"});
  EXPECT_EQ(r.status.code(), 2);
  EXPECT_EQ(r.err.rfind("pipekit: --count: ", 0), 0u) << r.err;
  r = pipekit_cli({"msg", "recv", "handle:1", "--timeout", "nan"});
  EXPECT_EQ(r.status.code(), 2);
  EXPECT_EQ(r.err.rfind("pipekit: --timeout: ", 0), 0u) << r.err;
}

TEST(windows_cli, limits_json_has_every_key) {
  const auto r = pipekit_cli({"limits", "--json"});
  ASSERT_TRUE(r.status.success()) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"pipe_default_capacity", "pipe_max_capacity", "pipe_atomic_write", "pipe_user_pages_soft",
                          "pipe_user_pages_hard", "descriptors_soft", "descriptors_hard", "processes_soft",
                          "processes_hard", "pipekit_pipe_capacity"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_GT(j["pipe_default_capacity"].get<std::uint64_t>(), 0u);
}

// ---- run --pty ----------------------------------------------------------------
//
// The command runs on a pseudo console (ConPTY). Under Wine 8 its standard
// handles stay NULL (see the pseudo console tests in
// test_windows_process.cpp), so these use the helper's console modes, which
// open CONIN$/CONOUT$ by name, and cannot show a program that prints to its
// stdout, as it would on Windows.
//
// Wine 8 also wedges when keys reach a pseudo console whose program has
// exited: the console starts the Wine desktop (explorer.exe /desktop) to
// translate them, neither finishes, and the desktop holds the test's output
// pipe, so ctest waits for its timeout (measured with a plain
// CreatePseudoConsole program: 8 runs in 30, 28 in 30 when the keys come 1 s
// after the program's end). So every command here reads all the input it is
// given before it exits (our end of input, Ctrl-Z, included), as a program
// that reads its terminal does.

TEST(windows_cli, run_pty_passes_the_exit_status_through) {
  const auto r = pipekit_cli({"run", "--pty", "--", child_path, "console-echo", "3"});
  EXPECT_EQ(r.status.code(), 3) << r.err;
  EXPECT_NE(r.out.find("eof"), std::string::npos) << r.out;
}

TEST(windows_cli, run_pty_relays_the_console_and_our_input_and_ends_it_at_our_end_of_file) {
  // Our input is a pipe: its lines go in as typed lines (Enter is \r on a
  // console), and its end as Ctrl-Z, Enter, which the helper reads as end of
  // input: it prints "eof" and exits 0 only if that arrived.
  const auto r = pipekit_cli({"run", "--pty", "--", child_path, "console-echo"}, "ping\npong\n");
  EXPECT_EQ(r.status.code(), 0) << r.err;
  for (const char* text : {"ready", "got: ping", "got: pong", "eof"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << " missing from [" << r.out << "]";
}

TEST(windows_cli, run_pty_with_stdin_from_a_file_puts_only_the_outputs_on_the_console) {
  char temp[MAX_PATH];
  ASSERT_GT(::GetTempPathA(MAX_PATH, temp), 0u);
  const std::string input = std::string(temp) + "pipekit-cli-pty-stdin.txt";
  HANDLE f = ::CreateFileA(input.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  ASSERT_NE(f, INVALID_HANDLE_VALUE);
  ::CloseHandle(f);
  const auto r = pipekit_cli({"run", "--pty", "--stdin", input, "--", child_path, "std-kinds"});
  ::DeleteFileA(input.c_str());
  EXPECT_EQ(r.status.code(), 0) << r.err;
  EXPECT_NE(r.out.find("stdin=file"), std::string::npos) << r.out;
}

}  // namespace
