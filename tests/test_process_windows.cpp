// pipekit::process on Windows only (under Wine in CI): exit codes and
// NTSTATUS crashes, batch files, case-insensitive environments, pseudo
// consoles, jobs. <windows.h> is used only to observe: whether a pid still
// lives, the test's own path. The cases both systems share are in
// test_process.cpp.
//
// Where Wine differs from Windows (../shared/docs/testing-notes.md) the test
// says so next to the assertion it limits.
#include <gtest/gtest.h>
#include <windows.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using namespace pipekit_test;
namespace fs = std::filesystem;

// A handle that can wait for `pid` to end, or null when no such process exists
// any more. Opening it pins the pid: it cannot be reused while we hold it.
HANDLE open_for_wait(DWORD pid) { return ::OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, pid); }

bool ends_within(HANDLE h, std::chrono::milliseconds within) {
  return ::WaitForSingleObject(h, static_cast<DWORD>(within.count())) == WAIT_OBJECT_0;
}

TEST(windows_process, batch_files_run_with_plain_arguments_and_refuse_cmd_metacharacters) {
  // CreateProcessW runs a .bat through cmd.exe, whose rules no quoting
  // survives (CVE-2024-24576): pipekit refuses arguments cmd.exe would read
  // as syntax. Wine runs batch files through its own cmd.exe, like Windows.
  const fs::path bat = fs::temp_directory_path() / (unique_name("pipekit-test") + ".bat");
  {
    std::ofstream f(bat, std::ios::binary);
    f << "@echo off\r\necho [%~1]\r\n";
  }
  pipekit::command ok{bat.string()};
  ok.arg("hello world");
  const auto r = pipekit::run(ok);
  EXPECT_TRUE(r.status.success()) << r.status.to_string();
  EXPECT_EQ(r.out, "[hello world]\r\n");

  for (const std::string bad : {"a&echo injected", "%PATH%", "\"&calc.exe", "a|b", "x^", "line\nbreak"}) {
    pipekit::command cmd{bat.string()};
    cmd.arg(bad);
    std::error_code ec;
    auto p = cmd.spawn(ec);
    EXPECT_TRUE(ec == std::errc::invalid_argument) << "[" << bad << "]: " << ec.message();
    EXPECT_FALSE(p.valid());
  }
  // Windows drops trailing dots and spaces from file names: still a batch file.
  pipekit::command dotted{bat.string() + ". ."};
  dotted.arg("a&echo injected");
  std::error_code ec;
  (void)dotted.spawn(ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument) << ec.message();
  fs::remove(bat);
}

TEST(windows_process, a_file_that_is_not_a_program_is_an_exec_format_error) {
  const fs::path path = fs::temp_directory_path() / (unique_name("pipekit-noexec") + ".exe");
  {
    std::ofstream f(path, std::ios::binary);
    f << "not a program";
  }
  std::error_code ec;
  auto p = pipekit::command{path.string()}.spawn(ec);
  // ERROR_BAD_EXE_FORMAT, POSIX's ENOEXEC.
  EXPECT_TRUE(ec == std::errc::executable_format_error) << ec.message() << " (" << ec.value() << ")";
  EXPECT_FALSE(p.valid());
  fs::remove(path);
}

TEST(windows_process, program_is_found_on_the_childs_path_with_exe_appended) {
  // A copy under a name nothing else has, in a directory only the child's
  // PATH names: found neither beside the test program nor on our PATH.
  const fs::path dir = fs::temp_directory_path() / unique_name("pipekit-path");
  fs::create_directories(dir);
  const std::string name = unique_name("pipekit-path-probe");
  fs::copy_file(fs::path(child_path), dir / (name + ".exe"));
  pipekit::command cmd{name};
  cmd.arg("exit").arg("5").env("PATH", dir.string());
  std::error_code ec;
  auto p = cmd.spawn(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.wait().code(), 5);
  fs::remove_all(dir);
}

TEST(windows_process, exit_codes_come_back_whole) {
  for (const int code : {0, 1, 3, 42, 255, 256, 259, 65535, 70000, -1}) {
    const auto s = child({"exit", std::to_string(code)}).spawn().wait();
    EXPECT_EQ(s.code(), code) << "exit " << code;
    EXPECT_FALSE(s.was_signaled());
    EXPECT_EQ(s.success(), code == 0);
  }
  // 259 is STILL_ACTIVE, what GetExitCodeProcess says of a running process:
  // the status must come from the process's end, not from that number.
  auto p = child({"exit", "259"}).spawn();
  EXPECT_EQ(p.wait().code(), 259);
  EXPECT_EQ(child({"exit", "42"}).spawn().wait().to_string(), "exited with code 42");
}

TEST(windows_process, a_crash_is_reported_with_its_ntstatus) {
  // The child writes through a null pointer. Under Wine, blank the AeDebug
  // debugger (testing-notes.md) or winedbg starts and prints a backtrace.
  auto cmd = child({"crash"});
  cmd.set_stderr(pipekit::stdio::null());
  const auto s = cmd.spawn().wait();
  EXPECT_FALSE(s.success());
  // STATUS_ACCESS_VIOLATION as the exit code (no signal on Windows).
  EXPECT_EQ(s.code(), static_cast<int>(0xC0000005u)) << s.to_string();
  EXPECT_FALSE(s.was_signaled());
  EXPECT_TRUE(s.crashed());
  EXPECT_EQ(s.to_string(), "crashed: access violation (0xC0000005)");

  auto divide = child({"crash", "divide"});
  divide.set_stderr(pipekit::stdio::null());
  const auto d = divide.spawn().wait();
  EXPECT_EQ(d.code(), static_cast<int>(0xC0000094u)) << d.to_string();
  EXPECT_TRUE(d.crashed());
  EXPECT_EQ(d.to_string(), "crashed: integer divide by zero (0xC0000094)");
}

TEST(windows_process, crashes_are_system_error_statuses_but_not_ctrl_c_or_negative_exits) {
  using pipekit::exit_status;
  const auto status = [](unsigned code) { return exit_status::exited(static_cast<int>(code)); };
  EXPECT_TRUE(status(0xC00000FDu).crashed());
  EXPECT_EQ(status(0xC00000FDu).to_string(), "crashed: stack overflow (0xC00000FD)");
  EXPECT_TRUE(status(0xC0000409u).crashed());
  EXPECT_EQ(status(0xC0000409u).to_string(), "crashed: stack buffer overrun / fast fail (0xC0000409)");
  EXPECT_TRUE(status(0xC0001234u).crashed());  // a system error without a name here
  EXPECT_EQ(status(0xC0001234u).to_string(), "crashed: NTSTATUS 0xC0001234");
  EXPECT_TRUE(status(0x80000003u).crashed());  // a breakpoint with no debugger
  EXPECT_EQ(status(0x80000003u).to_string(), "crashed: breakpoint (0x80000003)");
  // Ctrl-C ends a console program with STATUS_CONTROL_C_EXIT: no crash.
  EXPECT_FALSE(status(0xC000013Au).crashed());
  EXPECT_EQ(status(0xC000013Au).to_string(), "exited with code 0xC000013A (Ctrl-C)");
  // exit(-1) and other small negative codes have the customer bit set.
  EXPECT_FALSE(exit_status::exited(-1).crashed());
  EXPECT_EQ(exit_status::exited(-1).to_string(), "exited with code -1");
  EXPECT_FALSE(status(0xE06D7363u).crashed());
  EXPECT_FALSE(exit_status::exited(1).crashed());
  EXPECT_FALSE(exit_status::exited(0).crashed());
  // terminate() ends the process with exit code 1: asked for, not a crash.
  auto p = child({"sleep", "60000"}).spawn();
  EXPECT_FALSE(p.terminate(2s).crashed());
}

TEST(windows_process, native_handle_is_signalled_when_the_child_exits) {
  auto p = child({"sleep", "100"}).spawn();
  ASSERT_NE(p.native_handle(), pipekit::invalid_native_handle);
  EXPECT_EQ(::WaitForSingleObject(p.native_handle(), 10000), WAIT_OBJECT_0);
  EXPECT_TRUE(p.try_wait().has_value());
}

TEST(windows_process, environment_names_are_case_insensitive) {
  ::SetEnvironmentVariableW(L"PIPEKIT_TEST_CASE", L"parent");
  auto run_env = [](pipekit::command cmd) { return pipekit::run(std::move(cmd)).out; };
  // One variable, whatever the spelling: the edit replaces the parent's.
  EXPECT_EQ(run_env(child({"print-env", "PIPEKIT_TEST_CASE"}).env("pipekit_test_case", "child")), "child\n");
  EXPECT_EQ(run_env(child({"print-env", "PIPEKIT_TEST_CASE"}).env_remove("Pipekit_Test_Case")), "");
  const std::string all = run_env(child({"print-env"}).env("pipekit_test_case", "child"));
  std::size_t count = 0;
  for (const auto& l : split_lines(all)) {
    std::string name = l.substr(0, l.find('='));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
    if (name == "PIPEKIT_TEST_CASE") ++count;
  }
  EXPECT_EQ(count, 1u) << all;
  ::SetEnvironmentVariableW(L"PIPEKIT_TEST_CASE", nullptr);
}

// ---- pseudo console: stdio::pty() ----------------------------------------------
//
// What Wine 8 does with ConPTY, measured with a standalone CreatePseudoConsole
// program and with these tests: the console starts, paints what the child
// writes to it into the output pipe (with VT sequences), hands what we write
// to the child as console input (echoed, line-edited), takes the size it was
// created with, and exits when closed. Three things differ from Windows:
// - a ConPTY child's NULL standard handles stay NULL (Wine's kernelbase only
//   connects the child to the console), where Windows makes them the
//   console's: the helper's console modes open CONIN$ and CONOUT$ by name,
//   and pty_streams_get_the_console... checks the console handles on Windows
//   only (under Wine it checks that they are NULL);
// - ResizePseudoConsole is a stub that returns E_NOTIMPL: resize_terminal
//   reports not_supported there, and the new size is checked on Windows only;
// - keys that reach a console whose program has exited can wedge it and the
//   Wine desktop it starts to translate them (test_cli_windows.cpp has the
//   numbers): these tests type only what the child reads before it exits.

pipekit::command on_pty(pipekit::command c) {
  c.set_stdin(pipekit::stdio::pty()).set_stdout(pipekit::stdio::pty()).set_stderr(pipekit::stdio::pty());
  return c;
}

std::string printable(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c >= 32 && c < 127) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  return out;
}

// Reads the terminal into `seen` until `marker` is in it. The console paints
// with VT sequences, so tests look for text, never compare the whole output.
bool read_until(pipekit::stream& terminal, std::string& seen, std::string_view marker,
                pipekit::deadline until = pipekit::after(20s)) {
  while (seen.find(marker) == std::string::npos) {
    std::array<std::byte, 4096> buf{};
    std::error_code ec;
    const std::size_t n = terminal.read_some(buf, until, ec);
    if (ec || n == 0) {
      ADD_FAILURE() << "no \"" << marker << "\" on the terminal: " << (ec ? ec.message() : "end of stream") << "; got ["
                    << printable(seen) << "]";
      return false;
    }
    seen.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return true;
}

// Reads the terminal to its end, which comes once the child has exited and
// its console is closed.
std::string read_to_the_end(pipekit::stream& terminal, pipekit::deadline until = pipekit::after(20s)) {
  std::error_code ec;
  std::string rest = terminal.read_to_end(until, ec);
  EXPECT_FALSE(ec) << "the terminal did not end: " << ec.message() << "; got [" << printable(rest) << "]";
  return rest;
}

void type(pipekit::stream& terminal, std::string_view keys) {
  std::error_code ec;
  terminal.write_all(std::as_bytes(std::span(keys)), pipekit::after(10s), ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(windows_process, pty_child_runs_on_a_console_and_its_exit_code_comes_back) {
  auto p = on_pty(child({"exit", "3"})).spawn();
  ASSERT_TRUE(p.terminal().is_open());
  EXPECT_FALSE(p.in().is_open());
  EXPECT_FALSE(p.out().is_open());
  EXPECT_FALSE(p.err().is_open());
  const auto s = p.wait_until(pipekit::after(20s));
  ASSERT_TRUE(s.has_value()) << "the child did not exit";
  EXPECT_EQ(s->code(), 3);
  (void)read_to_the_end(p.terminal());
}

TEST(windows_process, pty_relays_the_consoles_output_and_our_input) {
  auto p = on_pty(child({"console-echo"})).spawn();
  std::string seen;
  ASSERT_TRUE(read_until(p.terminal(), seen, "ready"));
  type(p.terminal(), "hello\r");  // Enter is \r on a console
  ASSERT_TRUE(read_until(p.terminal(), seen, "got: hello"));
  type(p.terminal(), "\x1a\r");  // Ctrl-Z, Enter: end of input
  ASSERT_TRUE(read_until(p.terminal(), seen, "eof"));
  const auto s = p.wait_until(pipekit::after(20s));
  ASSERT_TRUE(s.has_value()) << "the child did not exit";
  EXPECT_EQ(s->code(), 0);
  (void)read_to_the_end(p.terminal());
}

TEST(windows_process, pty_size_is_the_consoles_window) {
  auto cmd = on_pty(child({"console-size"}));
  cmd.pty_size({30, 100});
  auto p = cmd.spawn();
  std::string seen;
  EXPECT_TRUE(read_until(p.terminal(), seen, "size 100x30"));
  const auto s = p.wait_until(pipekit::after(20s));
  ASSERT_TRUE(s.has_value()) << "the child did not exit";
  EXPECT_EQ(s->code(), 0);
}

TEST(windows_process, resize_terminal_resizes_the_console) {
  auto cmd = on_pty(child({"console-size", "wait"}));
  cmd.pty_size({30, 100});
  auto p = cmd.spawn();
  std::string seen;
  ASSERT_TRUE(read_until(p.terminal(), seen, "size 100x30"));
  std::error_code ec;
  p.resize_terminal({40, 120}, ec);
  if (running_under_wine()) {
    // Wine 8's ResizePseudoConsole is a stub (E_NOTIMPL): the failure is
    // reported, never a silent no-op. The new size cannot be seen here.
    EXPECT_EQ(ec, pipekit::errc::not_supported) << ec.message();
    type(p.terminal(), "\r");
  } else {
    EXPECT_FALSE(ec) << ec.message();
    type(p.terminal(), "\r");
    EXPECT_TRUE(read_until(p.terminal(), seen, "size 120x40"));
  }
  const auto s = p.wait_until(pipekit::after(20s));
  ASSERT_TRUE(s.has_value()) << "the child did not exit";
  EXPECT_EQ(s->code(), 0);
  (void)read_to_the_end(p.terminal());
  // Its console is closed with the child: nothing is left to resize.
  p.resize_terminal({24, 80}, ec);
  EXPECT_EQ(ec, pipekit::errc::process_not_running) << ec.message();
}

TEST(windows_process, pty_streams_get_the_console_and_the_others_their_handles) {
  auto cmd = child({"std-kinds"});
  cmd.set_stdin(pipekit::stdio::pty()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pty());
  auto p = cmd.spawn();
  ASSERT_TRUE(p.terminal().is_open());
  ASSERT_TRUE(p.out().is_open());
  std::string seen;
  ASSERT_TRUE(read_until(p.terminal(), seen, "stderr="));
  seen += read_to_the_end(p.terminal());
  EXPECT_NE(seen.find("stdout=pipe"), std::string::npos) << printable(seen);
  if (running_under_wine()) {
    // Wine 8 leaves a ConPTY child's NULL standard handles NULL. If this
    // fails because they are "console", Wine caught up: drop this branch.
    EXPECT_NE(seen.find("stdin=none"), std::string::npos) << printable(seen);
    EXPECT_NE(seen.find("stderr=none"), std::string::npos) << printable(seen);
  } else {
    EXPECT_NE(seen.find("stdin=console"), std::string::npos) << printable(seen);
    EXPECT_NE(seen.find("stderr=console"), std::string::npos) << printable(seen);
  }
  std::error_code ec;
  EXPECT_EQ(p.out().read_to_end(pipekit::after(10s), ec), "");
  EXPECT_FALSE(ec) << ec.message();
  const auto s = p.wait_until(pipekit::after(20s));
  ASSERT_TRUE(s.has_value()) << "the child did not exit";
  EXPECT_EQ(s->code(), 0);
}

TEST(windows_process, destroying_a_pty_process_ends_the_child_and_returns_at_once) {
  HANDLE h = nullptr;
  const auto start = pipekit::clock::now();
  {
    auto p = on_pty(child({"sleep", "60000"})).spawn();
    h = open_for_wait(static_cast<DWORD>(p.pid()));
    ASSERT_NE(h, nullptr);
  }
  EXPECT_LT(pipekit::clock::now() - start, 10s);
  EXPECT_TRUE(ends_within(h, 5s));
  ::TerminateProcess(h, 1);  // a no-op when the test passes
  ::CloseHandle(h);
}

// ---- process trees: jobs --------------------------------------------------------

TEST(windows_process, destroying_a_running_process_kills_its_whole_job) {
  HANDLE child_h = nullptr;
  HANDLE grandchild_h = nullptr;
  {
    auto cmd = child({"spawn-grandchild"});
    cmd.set_stdout(pipekit::stdio::pipe());
    auto p = cmd.spawn();
    grandchild_h = open_for_wait(static_cast<DWORD>(std::stoul(read_line(p.out()))));
    child_h = open_for_wait(static_cast<DWORD>(p.pid()));
    ASSERT_NE(child_h, nullptr);
    ASSERT_NE(grandchild_h, nullptr);
  }  // on_destroy::kill, the default
  EXPECT_TRUE(ends_within(child_h, 5s));
  EXPECT_TRUE(ends_within(grandchild_h, 5s));
  ::TerminateProcess(child_h, 1);  // no-ops when the test passes
  ::TerminateProcess(grandchild_h, 1);
  ::CloseHandle(child_h);
  ::CloseHandle(grandchild_h);
}

TEST(windows_process, kill_on_parent_death_kills_the_tree_when_the_job_handle_closes) {
  // detach() gives up our handles, the job's included: with kill-on-job-close
  // that is what the parent's death does, and the tree goes with it.
  auto cmd = child({"spawn-grandchild"});
  cmd.set_stdout(pipekit::stdio::pipe()).kill_on_parent_death().when_destroyed(pipekit::on_destroy::detach);
  auto p = cmd.spawn();
  HANDLE grandchild_h = open_for_wait(static_cast<DWORD>(std::stoul(read_line(p.out()))));
  HANDLE child_h = open_for_wait(static_cast<DWORD>(p.pid()));
  ASSERT_NE(child_h, nullptr);
  ASSERT_NE(grandchild_h, nullptr);
  EXPECT_FALSE(ends_within(child_h, 0ms));
  p.detach();
  EXPECT_TRUE(ends_within(child_h, 5s));
  EXPECT_TRUE(ends_within(grandchild_h, 5s));
  std::error_code ec;
  (void)p.out().read_to_end(pipekit::after(5s), ec);
  EXPECT_FALSE(ec) << ec.message();
  ::TerminateProcess(child_h, 1);  // no-ops when the test passes
  ::TerminateProcess(grandchild_h, 1);
  ::CloseHandle(child_h);
  ::CloseHandle(grandchild_h);
}

TEST(windows_process, detach_without_kill_on_parent_death_leaves_the_tree_running) {
  auto cmd = child({"spawn-grandchild"});
  cmd.set_stdout(pipekit::stdio::pipe()).when_destroyed(pipekit::on_destroy::detach);
  auto p = cmd.spawn();
  HANDLE grandchild_h = open_for_wait(static_cast<DWORD>(std::stoul(read_line(p.out()))));
  HANDLE child_h = open_for_wait(static_cast<DWORD>(p.pid()));
  ASSERT_NE(child_h, nullptr);
  ASSERT_NE(grandchild_h, nullptr);
  p.detach();
  EXPECT_FALSE(ends_within(child_h, 500ms));
  EXPECT_FALSE(ends_within(grandchild_h, 0ms));
  ::TerminateProcess(child_h, 1);
  ::TerminateProcess(grandchild_h, 1);
  ::CloseHandle(child_h);
  ::CloseHandle(grandchild_h);
}

// The parent half of the next test, run in a second copy of this program: it
// spawns a kill-on-parent-death child with a grandchild, prints both pids and
// waits to be killed. Disabled so that it only runs when asked for by name.
TEST(windows_process_helper, DISABLED_parent_of_a_kill_on_parent_death_child) {
  auto cmd = child({"spawn-grandchild"});
  cmd.set_stdout(pipekit::stdio::pipe()).kill_on_parent_death();
  auto p = cmd.spawn();
  const std::string grandchild = read_line(p.out());
  std::printf("\npids %d %s\n", p.pid(), grandchild.c_str());
  std::fflush(stdout);
  ::Sleep(60000);
}

TEST(windows_process, kill_on_parent_death_kills_the_tree_when_the_parent_process_dies) {
  std::wstring self(32768, L'\0');
  self.resize(::GetModuleFileNameW(nullptr, self.data(), static_cast<DWORD>(self.size())));
  pipekit::command helper{to_utf8(self)};
  helper.arg("--gtest_also_run_disabled_tests")
      .arg("--gtest_filter=windows_process_helper.DISABLED_parent_of_a_kill_on_parent_death_child");
  // No job for the helper: its descendants would be in ours too, and killing
  // it would prove nothing about the job the helper made.
  helper.group(pipekit::process_group::inherit).set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::pipe());
  auto h = helper.spawn();
  std::string line;
  const auto until = pipekit::after(30s);
  while (line.rfind("pids ", 0) != 0 && pipekit::clock::now() < until) line = read_line(h.out(), until);
  ASSERT_EQ(line.rfind("pids ", 0), 0u) << "the helper printed no pids";
  unsigned long child_pid = 0, grandchild_pid = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "pids %lu %lu", &child_pid, &grandchild_pid), 2) << line;
  HANDLE child_h = open_for_wait(child_pid);
  HANDLE grandchild_h = open_for_wait(grandchild_pid);
  ASSERT_NE(child_h, nullptr);
  ASSERT_NE(grandchild_h, nullptr);
  EXPECT_FALSE(ends_within(child_h, 0ms));

  h.terminate(1s);  // TerminateProcess: no destructor runs, the OS closes the job handle
  EXPECT_TRUE(ends_within(child_h, 5s));
  EXPECT_TRUE(ends_within(grandchild_h, 5s));
  ::TerminateProcess(child_h, 1);  // no-ops when the test passes
  ::TerminateProcess(grandchild_h, 1);
  ::CloseHandle(child_h);
  ::CloseHandle(grandchild_h);
}

}  // namespace
