// `pipekit.exe run` on what only Windows has (under Wine in CI): the two
// signal names that mean ending the job, TerminateJobObject's exit code,
// --foreground without process groups, handle: endpoints, and --pty on a
// pseudo console. The contract both systems share (exit status passed
// through, 124 on timeout with the whole tree ended, 127 when the program is
// missing) is in test_cli.cpp.
#include <gtest/gtest.h>
#include <windows.h>

#include <chrono>
#include <string>
#include <string_view>

#include "helpers/test_support.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit_test::child_path;
using pipekit_test::cli_path;

pipekit::run_result pipekit_cli(std::initializer_list<std::string> args, std::string_view input = {}) {
  pipekit::command c{cli_path};
  for (const auto& a : args) c.arg(a);
  return pipekit::run(std::move(c), input, pipekit::after(60s));
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

// ---- run --pty ----------------------------------------------------------------
//
// The command runs on a pseudo console (ConPTY). Under Wine 8 its standard
// handles stay NULL (see the pseudo console tests in
// test_process_windows.cpp), so these use the helper's console modes, which
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
