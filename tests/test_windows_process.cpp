// The Windows twin of test_process.cpp: the same behaviours through the same
// public API, checked against Windows code (run under Wine in CI). <windows.h>
// is used only to observe: whether a pid still lives, the test's own path.
//
// Where Wine differs from Windows (../shared/docs/testing-notes.md) the test
// says so next to the assertion it limits.
#include <gtest/gtest.h>

#include "pipekit/process.hpp"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
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

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string to_utf8(std::wstring_view w) {
  if (w.empty()) return {};
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), s.data(), n, nullptr, nullptr);
  return s;
}

// PIPEKIT_CHILD_PATH is the build's path to pipekit_child.exe. A cross build
// run under Wine gets a Unix path ("/home/.../pipekit_child.exe"); Wine's Z:
// drive is the Unix root in every prefix, so that is Z:\work\...\.
std::string windows_path(std::string p) {
  if (!p.empty() && p.front() == '/') p = "Z:" + p;
  std::replace(p.begin(), p.end(), '/', '\\');
  return p;
}

const std::string child_path = windows_path(PIPEKIT_CHILD_PATH);

pipekit::command child(std::initializer_list<std::string> args) {
  pipekit::command c{child_path};
  for (const auto& a : args) c.arg(a);
  return c;
}

char pattern_byte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 4096) % 26); }
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = pattern_byte(i);
  return s;
}

// One line from a stream (without the '\n'); fails the test on timeout or EOF.
std::string read_line(pipekit::stream& s, pipekit::deadline until = pipekit::after(10s)) {
  std::string line;
  std::byte b[1];
  for (;;) {
    std::error_code ec;
    const std::size_t n = s.read_some(b, until, ec);
    if (ec || n == 0) {
      ADD_FAILURE() << "no complete line: " << (ec ? ec.message() : "end of stream") << ", got [" << line << "]";
      return line;
    }
    const char c = static_cast<char>(b[0]);
    if (c == '\n') return line;
    line += c;
  }
}

// A handle that can wait for `pid` to end, or null when no such process exists
// any more. Opening it pins the pid: it cannot be reused while we hold it.
HANDLE open_for_wait(DWORD pid) { return ::OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, pid); }

bool ends_within(HANDLE h, std::chrono::milliseconds within) {
  return ::WaitForSingleObject(h, static_cast<DWORD>(within.count())) == WAIT_OBJECT_0;
}

// True when `pid` is gone (or ended) within `within`.
bool process_gone(DWORD pid, std::chrono::milliseconds within) {
  HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, pid);
  if (h == nullptr) return true;  // ERROR_INVALID_PARAMETER: no such process
  const bool gone = ends_within(h, within);
  ::CloseHandle(h);
  return gone;
}

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\0') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  EXPECT_EQ(start, s.size()) << "output does not end with a NUL";
  return parts;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(s.substr(start, nl - start));
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

// Wine exports wine_get_version from ntdll; Windows does not.
bool running_under_wine() {
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

std::string unique_name(const std::string& stem) {
  return stem + "-" + std::to_string(::GetCurrentProcessId()) + "-" + std::to_string(::GetTickCount64());
}

// ---- data flow --------------------------------------------------------------

TEST(windows_process, communicate_moves_16_mib_each_way_without_deadlock) {
  constexpr std::size_t n = 16 << 20;
  auto cmd = child({"big-io", std::to_string(n)});
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  const std::string input = pattern(n);
  const auto r = p.communicate(input, pipekit::after(120s));
  const auto status = p.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
  EXPECT_EQ(r.input_written, n);
  ASSERT_EQ(r.out.size(), n);
  ASSERT_EQ(r.err.size(), n);
  EXPECT_TRUE(r.out == input);
  EXPECT_TRUE(r.err == input);
}

TEST(windows_process, run_collects_output_and_status) {
  const auto r = pipekit::run(child({"echo"}), "round trip");
  EXPECT_EQ(r.out, "round trip");
  EXPECT_TRUE(r.status.success());
}

TEST(windows_process, line_callbacks_deliver_whole_lines_as_they_arrive) {
  auto cmd = child({"print-args", "first", "second", "third"});
  cmd.set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  std::vector<std::string> lines;
  pipekit::communicate_options o;
  o.on_stdout_line = [&](std::string_view l) { lines.emplace_back(l); };
  auto r = p.communicate(o);
  EXPECT_EQ(lines, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_TRUE(r.out.empty());
  p.wait();
}

TEST(windows_process, communicate_timeout_keeps_the_child_running) {
  auto cmd = child({"sleep", "60000"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  pipekit::communicate_options o;
  o.until = pipekit::after(100ms);
  std::error_code ec;
  (void)p.communicate(o, ec);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_FALSE(p.try_wait().has_value());
  p.terminate(1s);
}

TEST(windows_process, reads_end_with_eof_once_the_child_is_done) {
  auto cmd = child({"print-args", "x"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  EXPECT_EQ(p.out().read_to_end(), "x\n");
  // Windows reports a pipe without writers as ERROR_BROKEN_PIPE: that is end
  // of stream (0), not an error, as a POSIX read returning 0.
  std::byte b[16];
  std::error_code ec;
  EXPECT_EQ(p.out().read_some(b, ec), 0u);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.out().read_exact(b, ec), 0u);
  EXPECT_EQ(ec, pipekit::errc::end_of_file);
  EXPECT_TRUE(p.wait().success());
}

TEST(windows_process, closing_stdin_gives_the_child_eof) {
  auto cmd = child({"wait-eof"});
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  p.in().write_all("some input");
  p.in().close();
  std::error_code ec;
  EXPECT_EQ(p.out().read_to_end(pipekit::after(10s), ec), "eof\n");
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.wait().success());
}

TEST(windows_process, writing_to_a_child_that_exited_is_a_broken_pipe) {
  auto cmd = child({"exit", "0"});
  cmd.set_stdin(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  p.wait();
  // WriteFile on a pipe whose reader is gone fails with ERROR_NO_DATA ("the
  // pipe is being closed"), sometimes ERROR_BROKEN_PIPE: both are EPIPE.
  const std::string big(4 << 20, 'x');
  std::error_code ec;
  const std::size_t n = p.in().write_all(big, ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe) << ec.message() << " (" << ec.value() << ")";
  EXPECT_LT(n, big.size());
}

TEST(windows_process, a_child_that_stops_reading_early_is_not_an_error) {
  auto cmd = child({"exit", "0"});
  cmd.set_stdin(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  p.wait();
  const std::string big(4 << 20, 'x');
  const auto r = p.communicate(big);
  EXPECT_LT(r.input_written, big.size());  // reported, not silently lost
}

// ---- arguments --------------------------------------------------------------

TEST(windows_process, arguments_round_trip_through_the_childs_c_runtime) {
  // Quoted by pipekit (src/windows/command_line.cpp), split again by the
  // child's C runtime before wmain, printed back NUL-terminated.
  const std::vector<std::string> args = {
      // blanks and empty arguments
      "plain",
      "a b",
      "",
      " leading",
      "trailing ",
      "tab\tinside",
      "new\nline",
      // quotes
      R"(")",
      R"(a"b)",
      R"("quoted")",
      R"(x"" y)",
      // backslashes, alone, trailing, before quotes
      R"(\)",
      R"(a\)",
      R"(a b\)",
      R"(C:\Program Files\)",
      R"(a\\"b)",
      R"(\")",
      R"(\\server\share\)",
      // UTF-8 (UTF-16 on the way, surrogate pairs included)
      "ünïcødé ✓",
      "日本語",
      "emoji 😀",
      // what shells and cmd.exe care about, and the C runtime does not
      "%PATH%",
      "^&|<>()",
      "*?",
      "'single'",
      "--opt=a b",
      // an empty last argument
      "",
  };
  auto cmd = child({"print-args0"});
  cmd.args(args);
  const auto r = pipekit::run(cmd);
  EXPECT_TRUE(r.status.success()) << r.status.to_string();
  EXPECT_EQ(split_nul(r.out), args);
}

TEST(windows_process, arguments_pass_through_without_a_shell) {
  auto r = pipekit::run(child({"print-args", "a b", "$HOME", "'q'", "", "*", "%PATH%", "a&b"}));
  EXPECT_EQ(r.out, "a b\n$HOME\n'q'\n\n*\n%PATH%\na&b\n");
}

TEST(windows_process, an_argument_with_a_nul_byte_is_invalid) {
  std::error_code ec;
  auto p = child({"print-args", std::string("a\0b", 3)}).spawn(ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument) << ec.message();
  EXPECT_FALSE(p.valid());
}

TEST(windows_process, empty_argv_is_invalid) {
  std::error_code ec;
  (void)pipekit::command(std::vector<std::string>{}).spawn(ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
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

// ---- start-up errors --------------------------------------------------------

TEST(windows_process, missing_program_error_names_it_and_says_no_such_file) {
  pipekit::command cmd{"pipekit-no-such-program-xyz"};
  try {
    (void)cmd.spawn();
    FAIL() << "spawn succeeded";
  } catch (const pipekit::spawn_error& e) {
    EXPECT_NE(std::string(e.what()).find("pipekit-no-such-program-xyz"), std::string::npos) << e.what();
    EXPECT_EQ(e.program(), "pipekit-no-such-program-xyz");
    EXPECT_TRUE(e.code() == std::errc::no_such_file_or_directory) << e.code().message();
  }
  std::error_code ec;
  auto p = cmd.spawn(ec);
  EXPECT_TRUE(ec == std::errc::no_such_file_or_directory) << ec.message();
  EXPECT_FALSE(p.valid());
}

TEST(windows_process, missing_program_by_path_is_no_such_file_too) {
  // Windows says ERROR_PATH_NOT_FOUND for a missing directory (Wine says
  // ERROR_FILE_NOT_FOUND): both are ENOENT to the caller.
  std::error_code ec;
  auto p = pipekit::command{"C:\\nonexistent-pipekit-dir\\prog.exe"}.spawn(ec);
  EXPECT_TRUE(ec == std::errc::no_such_file_or_directory) << ec.message() << " (" << ec.value() << ")";
  EXPECT_FALSE(p.valid());
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

TEST(windows_process, bad_working_directory_is_reported_with_the_directory) {
  auto cmd = child({"exit", "0"});
  cmd.cwd("C:\\nonexistent-pipekit-dir");
  try {
    (void)cmd.spawn();
    FAIL();
  } catch (const pipekit::spawn_error& e) {
    EXPECT_EQ(e.stage(), pipekit::spawn_stage::chdir);
    EXPECT_NE(std::string(e.what()).find("nonexistent-pipekit-dir"), std::string::npos) << e.what();
    // CreateProcessW reports ERROR_DIRECTORY whether the directory is missing
    // or not a directory; POSIX says ENOENT for the first.
    EXPECT_TRUE(e.code() == std::errc::no_such_file_or_directory || e.code() == std::errc::not_a_directory)
        << e.code().message() << " (" << e.code().value() << ")";
  }
}

TEST(windows_process, missing_input_file_is_a_spawn_error_naming_the_file) {
  auto cmd = child({"echo"});
  cmd.set_stdin(pipekit::stdio::file("C:\\nonexistent-pipekit-dir\\input.txt", pipekit::file_mode::read));
  try {
    (void)cmd.spawn();
    FAIL();
  } catch (const pipekit::spawn_error& e) {
    EXPECT_EQ(e.stage(), pipekit::spawn_stage::open);
    EXPECT_NE(std::string(e.what()).find("input.txt"), std::string::npos) << e.what();
    EXPECT_TRUE(e.code() == std::errc::no_such_file_or_directory) << e.code().message();
  }
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

// ---- exit status ------------------------------------------------------------

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

TEST(windows_process, wait_until_times_out_then_try_wait_and_terminate) {
  auto p = child({"sleep", "60000"}).spawn();
  EXPECT_FALSE(p.wait_until(pipekit::after(50ms)).has_value());
  EXPECT_FALSE(p.try_wait().has_value());
  const auto s = p.terminate(2s);
  EXPECT_FALSE(s.success()) << s.to_string();
  EXPECT_EQ(p.try_wait(), s);
  std::error_code ec;
  p.send_signal(9, ec);  // reaped: never a stale pid
  EXPECT_EQ(ec, pipekit::errc::process_not_running);
}

TEST(windows_process, exit_handle_is_signalled_when_the_child_exits) {
  auto p = child({"sleep", "100"}).spawn();
  ASSERT_NE(p.exit_handle(), pipekit::invalid_native_handle);
  EXPECT_EQ(::WaitForSingleObject(p.exit_handle(), 10000), WAIT_OBJECT_0);
  EXPECT_TRUE(p.try_wait().has_value());
}

// ---- environment and working directory --------------------------------------

TEST(windows_process, environment_inherit_set_remove_and_clear) {
  ::SetEnvironmentVariableW(L"PIPEKIT_TEST_INHERITED", L"yes");
  auto run_env = [](pipekit::command cmd) { return pipekit::run(std::move(cmd)).out; };
  EXPECT_EQ(run_env(child({"print-env", "PIPEKIT_TEST_INHERITED"})), "yes\n");
  EXPECT_EQ(run_env(child({"print-env", "PIPEKIT_X"}).env("PIPEKIT_X", "1")), "1\n");
  EXPECT_EQ(run_env(child({"print-env", "PIPEKIT_X"}).env("PIPEKIT_X", "ünïcødé ✓")), "ünïcødé ✓\n");
  EXPECT_EQ(run_env(child({"print-env", "PIPEKIT_TEST_INHERITED"}).env_remove("PIPEKIT_TEST_INHERITED")), "");

  // Cleared: nothing of ours arrives. Windows programs may need SystemRoot
  // (Winsock, side-by-side assemblies fail without it), so a cleared
  // environment may keep it; anything else is a leak. Wine adds its own
  // variables to every new process whatever the block says (WINELOADER,
  // WINEDATADIR, ... and SystemDrive, SystemRoot): under Wine they are left
  // out, so there this checks only what pipekit passes.
  const bool wine = running_under_wine();
  auto ours = [&](const std::string& all) {
    std::vector<std::string> lines = split_lines(all);
    lines.erase(std::remove_if(lines.begin(), lines.end(),
                               [&](const std::string& l) {
                                 return wine && (l.rfind("WINE", 0) == 0 || l.rfind("SystemDrive=", 0) == 0 ||
                                                 l.rfind("SystemRoot=", 0) == 0);
                               }),
                lines.end());
    return lines;
  };
  std::vector<std::string> cleared = ours(run_env(child({"print-env"}).env_clear().env("ONLY", "this")));
  cleared.erase(std::remove_if(cleared.begin(), cleared.end(),
                               [](const std::string& l) { return l.rfind("SystemRoot=", 0) == 0; }),
                cleared.end());
  EXPECT_EQ(cleared, std::vector<std::string>{"ONLY=this"});
  // Removing it explicitly leaves exactly what was asked for; the child
  // (a static program) still starts.
  EXPECT_EQ(ours(run_env(child({"print-env"}).env_clear().env_remove("SystemRoot").env("ONLY", "this"))),
            std::vector<std::string>{"ONLY=this"});
  ::SetEnvironmentVariableW(L"PIPEKIT_TEST_INHERITED", nullptr);
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

TEST(windows_process, working_directory) {
  // A space and non-ASCII letters: the directory goes to CreateProcessW as UTF-16.
  fs::path dir = fs::temp_directory_path() / fs::path(u8"pipekit cwd ünï-");
  dir += unique_name("x");
  fs::create_directories(dir);
  auto cmd = child({"print-cwd"});
  cmd.cwd(dir);
  const std::string out = pipekit::run(cmd).out;
  ASSERT_FALSE(out.empty());
  ASSERT_EQ(out.back(), '\n');
  std::error_code ec;
  const std::string printed = out.substr(0, out.size() - 1);
  EXPECT_TRUE(fs::equivalent(fs::path(std::u8string(printed.begin(), printed.end())), dir, ec))
      << printed << ": " << ec.message();
  fs::remove_all(dir);
}

// ---- stdio ------------------------------------------------------------------

TEST(windows_process, stdio_null_file_write_append_read_and_merge) {
  const fs::path path = fs::temp_directory_path() / (unique_name("pipekit-test") + ".txt");
  auto w = child({"print-args", "one"});
  w.set_stdout(pipekit::stdio::file(path, pipekit::file_mode::write));
  EXPECT_TRUE(w.spawn().wait().success());
  auto a = child({"print-args", "two"});
  a.set_stdout(pipekit::stdio::file(path, pipekit::file_mode::append));
  EXPECT_TRUE(a.spawn().wait().success());
  auto rd = child({"echo"});
  rd.set_stdin(pipekit::stdio::file(path, pipekit::file_mode::read)).set_stdout(pipekit::stdio::pipe());
  auto p = rd.spawn();
  EXPECT_EQ(p.out().read_to_end(), "one\ntwo\n");  // binary: no \r added
  p.wait();
  // write truncates.
  auto t = child({"print-args", "three"});
  t.set_stdout(pipekit::stdio::file(path, pipekit::file_mode::write));
  EXPECT_TRUE(t.spawn().wait().success());
  std::ifstream f(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), "three\n");
  f.close();
  fs::remove(path);

  auto n = child({"echo"});
  n.set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::pipe());
  auto pn = n.spawn();
  EXPECT_EQ(pn.out().read_to_end(), "");
  EXPECT_TRUE(pn.wait().success());

  auto merged = child({"spew", "10", "2"});
  merged.set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::to_stdout());
  auto pm = merged.spawn();
  EXPECT_EQ(pm.out().read_to_end(), pattern(10));
  pm.wait();

  auto discard = child({"spew", "100000"});
  discard.set_stdout(pipekit::stdio::null());
  EXPECT_TRUE(discard.spawn().wait().success());
}

TEST(windows_process, borrowed_handle_as_stdout) {
  auto [r, w] = pipekit::make_pipe();
  auto cmd = child({"print-args", "via borrowed"});
  cmd.set_stdout(pipekit::stdio::from(w.native_handle()));
  EXPECT_TRUE(cmd.spawn().wait().success());
  w.close();
  EXPECT_EQ(r.read_to_end(), "via borrowed\n");
}

TEST(windows_process, concurrent_spawns_from_4_threads_leak_no_pipe_end_into_other_children) {
  // Only the listed handles are inherited (PROC_THREAD_ATTRIBUTE_HANDLE_LIST):
  // had another child inherited our stdin's write end, ours would not see EOF
  // until that child ended.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto cmd = child({"wait-eof"});
        cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
        auto p = cmd.spawn();
        std::this_thread::sleep_for(1ms);
        p.in().close();
        std::error_code ec;
        const std::string out = p.out().read_to_end(pipekit::after(10s), ec);
        if (ec || out != "eof\n") ++failures;
        if (!p.wait().success()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
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
//   Wine desktop it starts to translate them (test_windows_cli.cpp has the
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

TEST(windows_process, a_process_without_pty_streams_has_no_terminal) {
  auto p = child({"exit", "0"}).spawn();
  EXPECT_FALSE(p.terminal().is_open());
  std::error_code ec;
  p.resize_terminal({24, 80}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
  p.wait();
}

// ---- process trees: jobs --------------------------------------------------------

TEST(windows_process, run_with_deadline_kills_the_tree_and_reports_timeout) {
  std::error_code ec;
  const auto start = pipekit::clock::now();
  auto r = pipekit::run(child({"spawn-grandchild"}), "", pipekit::after(300ms), 1s, ec);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_LT(pipekit::clock::now() - start, 5s);
  EXPECT_FALSE(r.status.success()) << r.status.to_string();
  ASSERT_FALSE(r.out.empty());
  EXPECT_TRUE(process_gone(static_cast<DWORD>(std::stoul(r.out)), 2s)) << "grandchild " << r.out;
}

TEST(windows_process, terminate_kills_grandchildren_that_hold_the_pipe) {
  auto cmd = child({"spawn-grandchild"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  const DWORD grandchild = static_cast<DWORD>(std::stoul(read_line(p.out())));
  p.terminate(2s);
  // The grandchild held our pipe: once it is dead the pipe reports EOF.
  std::error_code ec;
  (void)p.out().read_to_end(pipekit::after(5s), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(process_gone(grandchild, 2s));
}

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

TEST(windows_process, process_group_inherit_puts_the_child_in_no_job_of_its_own) {
  auto p = child({"sleep", "60000"}).spawn();
  EXPECT_EQ(p.group_id(), p.pid());  // a job of its own, the default
  p.terminate(1s);
  auto cmd = child({"sleep", "60000"});
  cmd.group(pipekit::process_group::inherit);
  auto q = cmd.spawn();
  EXPECT_EQ(q.group_id(), 0);
  q.terminate(1s);
}

}  // namespace
