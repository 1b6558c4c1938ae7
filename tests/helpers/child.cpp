// pipekit_child: the one helper program the tests spawn, on POSIX and on
// Windows, with modes instead of shell tricks. The modes both systems have
// write the same bytes on both, so a test shares its expectations; the
// others are marked. On Windows arguments arrive through wmain (UTF-16, split
// by the C runtime) and all output is UTF-8, written with WriteFile on the
// standard handles: binary, unbuffered, no CRLF translation.
//
//   echo                 copy stdin to stdout until EOF
//   exit N               exit with status N
//   spew BYTES [FD]      write BYTES bytes of a known pattern to FD (default
//                        1; on Windows only 1 or 2, stdout or stderr)
//   sleep MS             sleep MS milliseconds, then exit 0
//   print-env [NAME]     print the environment (or one variable; exit 1 when
//                        it is not set) to stdout; on Windows the hidden
//                        "=C:=C:\dir" entries some programs put in the block
//                        are left out
//   print-args           print each argument followed by '\n'
//   print-args0          print each argument followed by '\0', so arguments
//                        containing newlines come back exactly
//   print-cwd            print the working directory
//   big-io N             read N bytes of stdin while writing N bytes to stdout
//                        and N to stderr, all interleaved; exit 0 if the
//                        input matched the pattern
//   wait-eof             block until stdin reaches EOF, then print "eof"
//   count-bytes          read stdin to EOF, then print how many bytes came
//   checksum [MS]        read stdin to EOF, then print "BYTES HASH" (a 64-bit
//                        hash of the bytes, in hex); with MS, sleep MS
//                        milliseconds after each MiB read (a slow reader)
//   lines N LEN CHAR     write N lines of LEN times CHAR, each with one write()
//   varied N MAX TAG [frames]
//                        write N records of helpers/varied_records.hpp (up to
//                        MAX bytes), as lines or as channel frames (4-byte
//                        big-endian length, then the bytes), in writes of odd
//                        sizes that cut records anywhere
//   mesh-member          join_mesh(), send "from RANK" to every peer, expect
//                        "from J" from each peer J; print "ok RANK" (exit 0)
//                        or what was wrong (exit 1)
//   spawn-grandchild     start a grandchild (pipekit_child sleep 60000) that
//                        inherits stdout, print its pid, then sleep 60 s
//
// POSIX only:
//   signal N             raise signal N (with its default action)
//   crash                die of SIGSEGV, as a program that faults does (no
//                        core file is written)
//   count-fds            print how many descriptors are open
//   read-fd N            copy descriptor N to stdout until its end
//   tty                  print "tty" if stdin is a terminal and it is the
//                        controlling terminal, else "notty"
//   ignore-term MS       ignore SIGTERM, then sleep MS milliseconds
//   spawn-escapee HOW    like spawn-grandchild, but the grandchild leaves the
//                        process group first: HOW is "session" (setsid),
//                        "group" (setpgid) or "daemon" (double fork + setsid:
//                        its parent exits, so it is orphaned)
//   ignore-term-ready MS ignore SIGTERM, print "ready" to stdout, then sleep
//                        MS milliseconds
//   exec-without-stdin PROG [ARG...]
//                        close descriptor 0, then exec PROG (a command
//                        started with its stdin closed, as by `<&-`)
//
// Windows only:
//   crash [divide]       write through a null pointer: the process ends with
//                        STATUS_ACCESS_VIOLATION (0xC0000005); "divide":
//                        divide an integer by zero, STATUS_INTEGER_DIVIDE_BY_ZERO
//                        (0xC0000094)
//   print-cmdline        print the raw command line (GetCommandLineW) and '\n'
//
// Console modes, for stdio::pty() on Windows. They open the console by name
// (CONIN$, CONOUT$) instead of using the standard handles: under Wine 8 a
// ConPTY child's standard handles stay NULL, while Windows makes them the
// console's.
//   console-echo [N]     print "ready", then "got: LINE" for each line read
//                        from the console, and "eof" at end of input (a line
//                        that starts with Ctrl-Z); exit N (default 0)
//   console-size [wait]  print "size COLSxROWS" of the console window; with
//                        "wait", read one line and print it again
//   std-kinds            print "stdin=K stdout=K stderr=K" to the console,
//                        K one of console, pipe, file, char, none, other
//
// Exit 64 for a usage error.
#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "helpers/varied_records.hpp"
#include "pipekit/topology/mesh.hpp"

#ifdef _WIN32
// The C runtime of mingw-w64 can expand wildcards in the command line before
// wmain (a toolchain build option); this child must see its arguments exactly
// as sent, so it asks for no expansion whatever the default.
extern "C" {
int _dowildcard = 0;  // NOLINT(readability-identifier-naming): the CRT's name
}
#else
extern char** environ;
#endif

namespace {

char pattern_byte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 4096) % 26); }

#ifdef _WIN32
std::string to_utf8(std::wstring_view w) {
  if (w.empty()) return {};
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), s.data(), n, nullptr, nullptr);
  return s;
}

std::wstring from_utf8(std::string_view s) {
  if (s.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
  return w;
}

HANDLE std_handle(int which) {
  return ::GetStdHandle(which == 0 ? STD_INPUT_HANDLE : which == 2 ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE);
}

bool write_all(HANDLE h, const char* p, std::size_t n) {
  while (n > 0) {
    const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(n, 1u << 20));
    DWORD written = 0;
    if (!::WriteFile(h, p, chunk, &written, nullptr)) return false;
    p += written;
    n -= written;
  }
  return true;
}

bool write_all(HANDLE h, std::string_view s) { return write_all(h, s.data(), s.size()); }

// Bytes read, 0 at end of stream. A pipe whose writers are all gone reports
// ERROR_BROKEN_PIPE rather than a zero-byte read: that is end of stream too.
// -1 on any other error.
long long read_some(HANDLE h, char* buf, std::size_t size) {
  DWORD got = 0;
  if (!::ReadFile(h, buf, static_cast<DWORD>(size), &got, nullptr)) {
    const DWORD e = ::GetLastError();
    return e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF ? 0 : -1;
  }
  return got;
}

// The standard streams by number, as on POSIX.
bool write_all(int fd, const char* p, std::size_t n) { return write_all(std_handle(fd), p, n); }
long long read_some(int fd, char* buf, std::size_t size) { return read_some(std_handle(fd), buf, size); }
#else
bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

long long read_some(int fd, char* buf, std::size_t size) {
  for (;;) {
    const ssize_t r = ::read(fd, buf, size);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}
#endif

bool write_all(int fd, std::string_view s) { return write_all(fd, s.data(), s.size()); }

int spew(std::size_t bytes, int fd) {
  std::vector<char> buf(65536);
  std::size_t done = 0;
  while (done < bytes) {
    const std::size_t n = std::min(buf.size(), bytes - done);
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(done + i);
    if (!write_all(fd, buf.data(), n)) return 1;
    done += n;
  }
  return 0;
}

// FNV-1a over the bytes: order-sensitive, cheap enough for a GiB under ASan.
int checksum(int pause_ms_per_mib) {
  std::vector<char> buf(65536);
  unsigned long long total = 0;
  unsigned long long hash = 0xcbf29ce484222325ull;
  unsigned long long next_pause = 1u << 20;
  for (long long r; (r = read_some(0, buf.data(), buf.size())) > 0;) {
    for (long long i = 0; i < r; ++i) hash = (hash ^ static_cast<unsigned char>(buf[i])) * 0x100000001b3ull;
    total += static_cast<unsigned long long>(r);
    if (pause_ms_per_mib > 0 && total >= next_pause) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms_per_mib));
      next_pause += 1u << 20;
    }
  }
  char line[64];
  std::snprintf(line, sizeof line, "%llu %016llx\n", total, hash);
  return write_all(1, line) ? 0 : 1;
}

// Reads and writes at the same time, the way a filter with two outputs does;
// a parent that does not drain both outputs while feeding input deadlocks.
#ifdef _WIN32
// Blocking I/O on three threads instead of a poll() loop: anonymous pipes on
// Windows cannot be polled.
int big_io(std::size_t n) {
  std::atomic<bool> input_ok{true};
  std::atomic<std::size_t> input_done{0};
  std::atomic<bool> write_failed{false};
  std::thread reader([&] {
    std::vector<char> buf(65536);
    std::size_t done = 0;
    bool ok = true;
    while (done < n) {
      const long long r = read_some(0, buf.data(), buf.size());
      if (r <= 0) break;
      for (long long i = 0; i < r; ++i)
        ok = ok && buf[static_cast<std::size_t>(i)] == pattern_byte(done + static_cast<std::size_t>(i));
      done += static_cast<std::size_t>(r);
    }
    input_ok = ok;
    input_done = done;
  });
  auto writer = [&](int which) {
    if (spew(n, which) != 0) write_failed = true;
  };
  std::thread out(writer, 1);
  std::thread err(writer, 2);
  out.join();
  err.join();
  reader.join();
  if (write_failed) return 3;
  return input_ok && input_done == n ? 0 : 4;
}
#else
int big_io(std::size_t n) {
  ::fcntl(0, F_SETFL, ::fcntl(0, F_GETFL) | O_NONBLOCK);
  ::fcntl(1, F_SETFL, ::fcntl(1, F_GETFL) | O_NONBLOCK);
  ::fcntl(2, F_SETFL, ::fcntl(2, F_GETFL) | O_NONBLOCK);
  std::size_t in_done = 0, out_done = 0, err_done = 0;
  bool ok = true;
  std::vector<char> buf(65536), pat(65536);
  while (in_done < n || out_done < n || err_done < n) {
    pollfd p[3] = {{0, static_cast<short>(in_done < n ? POLLIN : 0), 0},
                   {1, static_cast<short>(out_done < n ? POLLOUT : 0), 0},
                   {2, static_cast<short>(err_done < n ? POLLOUT : 0), 0}};
    if (::poll(p, 3, -1) < 0 && errno != EINTR) return 2;
    if (p[0].revents) {
      const ssize_t r = ::read(0, buf.data(), buf.size());
      if (r == 0) break;
      if (r > 0) {
        for (ssize_t i = 0; i < r; ++i)
          ok = ok && buf[static_cast<std::size_t>(i)] == pattern_byte(in_done + static_cast<std::size_t>(i));
        in_done += static_cast<std::size_t>(r);
      }
    }
    for (int k = 1; k <= 2; ++k) {
      std::size_t& done = k == 1 ? out_done : err_done;
      if (!p[k].revents || done >= n) continue;
      const std::size_t m = std::min(pat.size(), n - done);
      for (std::size_t i = 0; i < m; ++i) pat[i] = pattern_byte(done + i);
      const ssize_t w = ::write(k, pat.data(), m);
      if (w > 0) done += static_cast<std::size_t>(w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR) return 3;
    }
  }
  return ok && in_done == n ? 0 : 4;
}
#endif

int print_env(int argc, char** argv) {
#ifdef _WIN32
  if (argc > 2) {
    const std::wstring name = from_utf8(argv[2]);
    const DWORD size = ::GetEnvironmentVariableW(name.c_str(), nullptr, 0);
    if (size == 0) return 1;  // not set (an empty value still needs room for the terminator)
    std::wstring value(size, L'\0');
    const DWORD len = ::GetEnvironmentVariableW(name.c_str(), value.data(), size);
    value.resize(len);
    return write_all(1, to_utf8(value) + "\n") ? 0 : 1;
  }
  wchar_t* block = ::GetEnvironmentStringsW();
  if (block == nullptr) return 1;
  std::string out;
  for (const wchar_t* e = block; *e != L'\0'; e += std::wcslen(e) + 1) {
    if (*e == L'=') continue;  // "=C:=C:\dir": per-drive directories, not variables
    out += to_utf8(e);
    out += '\n';
  }
  ::FreeEnvironmentStringsW(block);
  return write_all(1, out) ? 0 : 1;
#else
  if (argc > 2) {
    const char* v = std::getenv(argv[2]);
    if (v == nullptr) return 1;
    return write_all(1, std::string(v) + "\n") ? 0 : 1;
  }
  std::string out;
  for (char** e = environ; *e != nullptr; ++e) {
    out += *e;
    out += '\n';
  }
  return write_all(1, out) ? 0 : 1;
#endif
}

int print_cwd() {
#ifdef _WIN32
  const DWORD size = ::GetCurrentDirectoryW(0, nullptr);
  if (size == 0) return 1;
  std::wstring dir(size, L'\0');
  dir.resize(::GetCurrentDirectoryW(size, dir.data()));
  return write_all(1, to_utf8(dir) + "\n") ? 0 : 1;
#else
  char buf[4096];
  if (::getcwd(buf, sizeof buf) == nullptr) return 1;
  return write_all(1, std::string(buf) + "\n") ? 0 : 1;
#endif
}

// A grandchild that holds our standard output: a parent that waits for EOF
// on it waits for the grandchild too.
int spawn_grandchild(char** argv) {
#ifdef _WIN32
  (void)argv;
  std::wstring self(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n = ::GetModuleFileNameW(nullptr, self.data(), static_cast<DWORD>(self.size()));
    if (n == 0) return 2;
    if (n < self.size()) {
      self.resize(n);
      break;
    }
    self.resize(self.size() * 2);
  }
  std::wstring cmdline = L"\"" + self + L"\" sleep 60000";

  // Only the standard handles go to the grandchild; they must be inheritable
  // to be listed, whatever the parent made of them.
  std::vector<HANDLE> handles;
  for (int which : {0, 1, 2}) {
    HANDLE h = std_handle(which);
    if (h == nullptr || h == INVALID_HANDLE_VALUE) continue;
    if (!::SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) continue;  // e.g. a console pseudo-handle
    if (std::find(handles.begin(), handles.end(), h) == handles.end()) handles.push_back(h);
  }

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = std_handle(0);
  si.StartupInfo.hStdOutput = std_handle(1);
  si.StartupInfo.hStdError = std_handle(2);
  SIZE_T attr_size = 0;
  ::InitializeProcThreadAttributeList(nullptr, 1, 0, &attr_size);
  std::vector<char> attr_buf(attr_size);
  auto* attrs = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attr_buf.data());
  bool have_list = !handles.empty() && ::InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size) &&
                   ::UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles.data(),
                                               handles.size() * sizeof(HANDLE), nullptr, nullptr);
  PROCESS_INFORMATION pi{};
  BOOL ok = FALSE;
  if (have_list) {
    si.lpAttributeList = attrs;
    ok = ::CreateProcessW(self.c_str(), cmdline.data(), nullptr, nullptr, TRUE, EXTENDED_STARTUPINFO_PRESENT, nullptr,
                          nullptr, &si.StartupInfo, &pi);
    ::DeleteProcThreadAttributeList(attrs);
  }
  if (!ok) {
    // Without the list (older systems refuse some handle kinds in it), every
    // inheritable handle goes; this helper holds no others worth hiding.
    si.StartupInfo.cb = sizeof(STARTUPINFOW);
    ok = ::CreateProcessW(self.c_str(), cmdline.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si.StartupInfo,
                          &pi);
  }
  if (!ok) return 2;
  ::CloseHandle(pi.hThread);
  ::CloseHandle(pi.hProcess);
  if (!write_all(1, std::to_string(pi.dwProcessId) + "\n")) return 3;
  ::FlushFileBuffers(std_handle(1));  // a no-op for pipes; WriteFile is unbuffered already
  ::Sleep(60000);
  return 0;
#else
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(argv[0], argv[0], "sleep", "60000", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::printf("%d\n", static_cast<int>(pid));
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
#endif
}

#ifdef _WIN32
HANDLE open_console(const wchar_t* name) {
  return ::CreateFileW(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_EXISTING,
                       0, nullptr);
}

// Line input from the console: "text\r\n" per line, 0 bytes (or a leading
// Ctrl-Z, as Wine hands it over) at end of input.
int console_echo(int code) {
  const HANDLE in = open_console(L"CONIN$");
  const HANDLE out = open_console(L"CONOUT$");
  if (in == INVALID_HANDLE_VALUE || out == INVALID_HANDLE_VALUE) return 2;
  if (!write_all(out, "ready\r\n")) return 3;
  std::vector<char> buf(4096);
  for (;;) {
    DWORD got = 0;
    if (!::ReadFile(in, buf.data(), static_cast<DWORD>(buf.size()), &got, nullptr)) return 3;
    std::string line(buf.data(), got);
    if (line.empty() || line.front() == '\x1a') break;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (!write_all(out, "got: " + line + "\r\n")) return 3;
  }
  return write_all(out, "eof\r\n") ? code : 3;
}

int console_size(bool wait) {
  const HANDLE out = open_console(L"CONOUT$");
  if (out == INVALID_HANDLE_VALUE) return 2;
  const auto print = [&] {
    CONSOLE_SCREEN_BUFFER_INFO info{};
    if (!::GetConsoleScreenBufferInfo(out, &info)) return false;
    const int cols = info.srWindow.Right - info.srWindow.Left + 1;
    const int rows = info.srWindow.Bottom - info.srWindow.Top + 1;
    return write_all(out, "size " + std::to_string(cols) + "x" + std::to_string(rows) + "\r\n");
  };
  if (!print()) return 3;
  if (!wait) return 0;
  const HANDLE in = open_console(L"CONIN$");
  char buf[256];
  DWORD got = 0;
  if (in == INVALID_HANDLE_VALUE || !::ReadFile(in, buf, sizeof buf, &got, nullptr)) return 3;
  return print() ? 0 : 3;
}

std::string handle_kind(HANDLE h) {
  if (h == nullptr || h == INVALID_HANDLE_VALUE) return "none";
  DWORD mode = 0;
  if (::GetConsoleMode(h, &mode)) return "console";
  switch (::GetFileType(h)) {
    case FILE_TYPE_PIPE: return "pipe";
    case FILE_TYPE_DISK: return "file";
    case FILE_TYPE_CHAR: return "char";
    default: return "other";
  }
}

int std_kinds() {
  const HANDLE out = open_console(L"CONOUT$");
  if (out == INVALID_HANDLE_VALUE) return 2;
  const std::string line = "stdin=" + handle_kind(std_handle(0)) + " stdout=" + handle_kind(std_handle(1)) +
                           " stderr=" + handle_kind(std_handle(2)) + "\r\n";
  return write_all(out, line) ? 0 : 3;
}

[[noreturn]] void crash_divide() {
  ::SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
  // Volatile, so the division happens at run time (x86-64 raises #DE); not
  // 1 / x, which compilers turn into a comparison.
  static volatile int numerator = 7;
  static volatile int zero = 0;
  const int result = numerator / zero;
  ::ExitProcess(static_cast<UINT>(100 + result));  // not reached
}

[[noreturn]] void crash() {
  // No "this program has stopped working" box on a desktop: just die.
  ::SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
  // Through a volatile pointer, so the compiler emits a real store to
  // address 0 (a store it can prove null may become a trap instruction,
  // which would end the process with STATUS_ILLEGAL_INSTRUCTION instead).
  static int* volatile target = nullptr;
  *target = 1;
  ::ExitProcess(100);  // not reached
}
#else
int count_fds() {
  int count = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 1;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++count;
  ::closedir(d);
  std::printf("%d\n", count - 1);  // less the directory's own descriptor
  return 0;
}

int spawn_escapee(int argc, char** argv) {
  const std::string how = argc > 2 ? argv[2] : "";
  if (how != "session" && how != "group" && how != "daemon") return 64;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const pid_t middle = ::getpid();
    if (how == "daemon") {
      if (::fork() != 0) ::_exit(0);  // the middle process exits at once
      // Announce only once orphaned: before the middle process is gone the
      // daemon is still its child, and so still in reach of a tree walk.
      while (::getppid() == middle) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (how == "group") ::setpgid(0, 0);
    else ::setsid();
    std::printf("%d\n", static_cast<int>(::getpid()));
    std::fflush(stdout);
    ::execl(argv[0], argv[0], "sleep", "60000", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (how == "daemon") ::waitpid(pid, nullptr, 0);
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}
#endif

// One member of a pipekit mesh (tests/test_mesh.cpp).
int varied(int argc, char** argv) {
  const auto n = static_cast<std::size_t>(std::strtoull(argv[2], nullptr, 10));
  const auto max = static_cast<std::size_t>(std::strtoull(argv[3], nullptr, 10));
  const std::string tag = argv[4];
  const bool frames = argc > 5 && std::string_view(argv[5]) == "frames";
  std::string out;
  const std::size_t sizes[] = {7001, 65537, 1, 300007, 4096, 123};
  std::size_t next = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string r = pipekit_test::varied_record(tag, i, max);
    if (frames) {
      const auto len = static_cast<std::uint32_t>(r.size());
      const char header[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                              static_cast<char>(len)};
      out.append(header, 4);
      out += r;
    } else {
      out += r;
      out += '\n';
    }
    while (out.size() >= sizes[next % 6]) {
      const std::size_t k = sizes[next++ % 6];
      if (!write_all(1, out.data(), k)) return 1;
      out.erase(0, k);
    }
  }
  return write_all(1, out) ? 0 : 1;
}

int mesh_member() {
  try {
    pipekit::mesh_membership me = pipekit::join_mesh();
    for (std::size_t j = 0; j < me.size; ++j)
      if (j != me.rank) me.peers[j].send("from " + std::to_string(me.rank));
    for (std::size_t j = 0; j < me.size; ++j) {
      if (j == me.rank) continue;
      std::string got;
      if (!me.peers[j].recv(got, pipekit::after(std::chrono::seconds(30))) || got != "from " + std::to_string(j)) {
        write_all(1, "bad: from peer " + std::to_string(j) + " got '" + got + "'\n");
        return 1;
      }
    }
    return write_all(1, "ok " + std::to_string(me.rank) + "\n") ? 0 : 1;
  } catch (const std::exception& e) {
    write_all(1, std::string("bad: ") + e.what() + "\n");
    return 1;
  }
}

// The modes; argv is UTF-8 on both systems.
int run_mode(int argc, char** argv) {
  if (argc < 2) {
    write_all(2, "usage: pipekit_child MODE [ARGS]\n");
    return 64;
  }
  const std::string mode = argv[1];
  auto num = [&](int i, long long dflt = 0) { return argc > i ? std::atoll(argv[i]) : dflt; };

  if (mode == "echo") {
    std::vector<char> buf(65536);
    for (;;) {
      const long long r = read_some(0, buf.data(), buf.size());
      if (r <= 0) return r == 0 ? 0 : 1;
      if (!write_all(1, buf.data(), static_cast<std::size_t>(r))) return 1;
    }
  }
  if (mode == "exit") return static_cast<int>(num(2));
  if (mode == "spew") {
    const int fd = static_cast<int>(num(3, 1));
#ifdef _WIN32
    if (fd != 1 && fd != 2) return 64;
#endif
    return spew(static_cast<std::size_t>(num(2)), fd);
  }
  if (mode == "sleep") {
    std::this_thread::sleep_for(std::chrono::milliseconds(num(2)));
    return 0;
  }
  if (mode == "print-env") return print_env(argc, argv);
  if (mode == "print-args" || mode == "print-args0") {
    const char end = mode == "print-args" ? '\n' : '\0';
    std::string out;
    for (int i = 2; i < argc; ++i) {
      out += argv[i];
      out += end;
    }
    return write_all(1, out) ? 0 : 1;
  }
  if (mode == "print-cwd") return print_cwd();
  if (mode == "big-io") return big_io(static_cast<std::size_t>(num(2)));
  if (mode == "wait-eof") {
    std::vector<char> buf(4096);
    while (read_some(0, buf.data(), buf.size()) > 0) {
    }
    return write_all(1, "eof\n") ? 0 : 1;
  }
  if (mode == "lines") {
    const std::string line = std::string(static_cast<std::size_t>(num(3)), argc > 4 ? argv[4][0] : 'x') + "\n";
    for (long long i = 0; i < num(2); ++i)
      if (!write_all(1, line)) return 1;
    return 0;
  }
  if (mode == "varied" && argc > 4) return varied(argc, argv);
  if (mode == "mesh-member") return mesh_member();
  if (mode == "count-bytes") {
    std::vector<char> buf(65536);
    unsigned long long total = 0;
    for (long long r; (r = read_some(0, buf.data(), buf.size())) > 0;) total += static_cast<unsigned long long>(r);
    return write_all(1, std::to_string(total) + "\n") ? 0 : 1;
  }
  if (mode == "checksum") return checksum(static_cast<int>(num(2)));
  if (mode == "spawn-grandchild") return spawn_grandchild(argv);
#ifdef _WIN32
  if (mode == "crash") {
    if (argc > 2 && std::string_view(argv[2]) == "divide") crash_divide();
    crash();
  }
  if (mode == "print-cmdline") return write_all(1, to_utf8(::GetCommandLineW()) + "\n") ? 0 : 1;
  if (mode == "console-echo") return console_echo(static_cast<int>(num(2)));
  if (mode == "console-size") return console_size(argc > 2 && std::string_view(argv[2]) == "wait");
  if (mode == "std-kinds") return std_kinds();
#else
  if (mode == "signal") {
    const int sig = static_cast<int>(num(2));
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return 100;
  }
  if (mode == "crash") {
    // raise() rather than a real fault: a sanitizer's handler would turn a
    // stray store into a report and an exit code.
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(SIGSEGV, SIG_DFL);
    ::raise(SIGSEGV);
    return 100;
  }
  if (mode == "count-fds") return count_fds();
  if (mode == "read-fd") {
    char buf[4096];
    const int fd = static_cast<int>(num(2));
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) std::fwrite(buf, 1, static_cast<std::size_t>(n), stdout);
    if (n < 0) {
      std::perror("read");
      return 3;
    }
    return 0;
  }
  if (mode == "tty") {
    const bool ctty = ::isatty(0) && ::tcgetpgrp(0) == ::getpgrp();
    std::printf("%s\n", ctty ? "tty" : "notty");
    return 0;
  }
  if (mode == "ignore-term") {
    ::signal(SIGTERM, SIG_IGN);
    std::this_thread::sleep_for(std::chrono::milliseconds(num(2)));
    return 0;
  }
  if (mode == "ignore-term-ready") {
    ::signal(SIGTERM, SIG_IGN);
    std::printf("ready\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(num(2)));
    return 0;
  }
  if (mode == "exec-without-stdin") {
    if (argc < 3) return 64;
    ::close(0);
    ::execv(argv[2], argv + 2);
    std::perror("execv");
    return 127;
  }
  if (mode == "spawn-escapee") return spawn_escapee(argc, argv);
#endif
  write_all(2, "pipekit_child: unknown mode '" + mode + "'\n");
  return 64;
}

}  // namespace

#ifdef _WIN32
// wmain (linked with -municode): the arguments as UTF-16, turned into UTF-8
// for the modes.
int wmain(int argc, wchar_t** wargv) {
  std::vector<std::string> args;
  args.reserve(static_cast<std::size_t>(argc));
  for (int i = 0; i < argc; ++i) args.push_back(to_utf8(wargv[i]));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return run_mode(argc, argv.data());
}
#else
int main(int argc, char** argv) { return run_mode(argc, argv); }
#endif
