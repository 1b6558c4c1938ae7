// What every test program shares, on POSIX and on Windows: where the helper
// child and the `pipekit` command are, the child's output pattern, and small
// probes (is a process gone, are we under Wine) the tests observe with.
#pragma once

#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"

namespace pipekit_test {

// The build's paths are Unix paths. A cross build run under Wine gets one too
// ("/home/.../pipekit_child.exe"); Wine's Z: drive is the Unix root in every
// prefix, so that is Z:\home\...\. On POSIX a path is left as it is.
inline std::string native_path(std::string p) {
#ifdef _WIN32
  if (!p.empty() && p.front() == '/') p = "Z:" + p;
  std::replace(p.begin(), p.end(), '/', '\\');
#endif
  return p;
}

inline const std::string child_path = native_path(PIPEKIT_CHILD_PATH);
#ifdef PIPEKIT_CLI_PATH
inline const std::string cli_path = native_path(PIPEKIT_CLI_PATH);
#endif

// `pipekit_child ARGS...` (tests/helpers/child.cpp lists the modes).
inline pipekit::command child(std::initializer_list<std::string> args) {
  pipekit::command c{child_path};
  for (const auto& a : args) c.arg(a);
  return c;
}

// The bytes the child's `spew` and `big-io` modes write and expect.
inline char pattern_byte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 4096) % 26); }
inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = pattern_byte(i);
  return s;
}

// What the child's `checksum` mode prints (without the '\n') for `bytes`
// bytes of the spew pattern.
inline std::string spew_checksum(std::size_t bytes) {
  unsigned long long hash = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < bytes; ++i)
    hash = (hash ^ static_cast<unsigned char>(pattern_byte(i))) * 0x100000001b3ull;
  char line[64];
  std::snprintf(line, sizeof line, "%zu %016llx", bytes, hash);
  return line;
}

inline long current_pid() {
#ifdef _WIN32
  return static_cast<long>(::GetCurrentProcessId());
#else
  return static_cast<long>(::getpid());
#endif
}

// A name no other test (in this or another test process) uses at once: for
// files, directories and named pipes.
inline std::string unique_name(const std::string& stem) {
  static std::atomic<int> serial{0};
  return stem + "-" + std::to_string(current_pid()) + "-" + std::to_string(serial++);
}

// Sets (or, with nullptr, removes) a variable of this process's environment,
// which children inherit.
inline void set_env(const char* name, const char* value) {
#ifdef _WIN32
  ::SetEnvironmentVariableA(name, value);
  // The C runtime keeps a copy of its own for getenv().
  ::_putenv_s(name, value != nullptr ? value : "");
#else
  if (value != nullptr) ::setenv(name, value, 1);
  else ::unsetenv(name);
#endif
}

inline bool running_under_wine() {
#ifdef _WIN32
  // Wine exports wine_get_version from ntdll; Windows does not.
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
#else
  return false;
#endif
}

// True when process `pid` is gone, or has ended and waits to be reaped, within `within`.
inline bool process_gone(long pid, std::chrono::milliseconds within) {
#ifdef _WIN32
  HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
  if (h == nullptr) return true;  // ERROR_INVALID_PARAMETER: no such process
  const bool gone = ::WaitForSingleObject(h, static_cast<DWORD>(within.count())) == WAIT_OBJECT_0;
  ::CloseHandle(h);
  return gone;
#else
  const auto until = pipekit::after(within);
  for (;;) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close_paren = line.rfind(')');
    if (close_paren != std::string::npos && line[close_paren + 2] == 'Z') return true;
    if (pipekit::clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
#endif
}

// One line from a stream (without the '\n'); fails the test on timeout or EOF.
inline std::string read_line(pipekit::stream& s, pipekit::deadline until = pipekit::after(std::chrono::seconds(10))) {
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

inline std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(s.substr(start, nl - start));
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

#ifndef _WIN32
// How many descriptors this process has open.
inline int open_fd_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // less the directory's own descriptor
}

// Children of this test process that are zombies (exited, not reaped).
inline int zombie_children() {
  int zombies = 0;
  DIR* d = ::opendir("/proc");
  const pid_t me = ::getpid();
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(line.substr(close_paren + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == me && state == 'Z') ++zombies;
  }
  ::closedir(d);
  return zombies;
}
#endif

#ifdef _WIN32
inline std::string to_utf8(std::wstring_view w) {
  if (w.empty()) return {};
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), s.data(), n, nullptr, nullptr);
  return s;
}
#endif

}  // namespace pipekit_test
