// pipekit_child for Windows: the twin of child.cpp with the same modes and the
// same output formats, so the Windows tests share expectations with the POSIX
// ones. Arguments arrive through wmain (UTF-16, split by the C runtime) and
// all output is UTF-8, written with WriteFile on the standard handles: binary,
// unbuffered, no CRLF translation.
//
//   echo                 copy stdin to stdout until EOF
//   exit N               exit with status N
//   spew BYTES [1|2]     write BYTES bytes of a known pattern to stdout (1,
//                        the default) or stderr (2)
//   sleep MS             sleep MS milliseconds, then exit 0
//   print-env [NAME]     print the environment (or one variable; exit 1 when
//                        it is not set) to stdout; the hidden "=C:=C:\dir"
//                        entries some programs put in the block are left out
//   print-args           print each argument followed by '\n'
//   print-args0          print each argument followed by '\0', so arguments
//                        containing newlines come back exactly
//   print-cmdline        print the raw command line (GetCommandLineW) and '\n'
//   print-cwd            print the working directory
//   big-io N             read N bytes of stdin while writing N bytes to stdout
//                        and N to stderr, all at once (one thread each); exit
//                        0 if the input matched the pattern
//   wait-eof             block until stdin reaches EOF, then print "eof"
//   spawn-grandchild     start a grandchild (this program, "sleep 60000")
//                        that inherits the standard handles, print its pid
//                        and '\n', then sleep 60 s
//   crash [divide]       write through a null pointer: the process ends with
//                        STATUS_ACCESS_VIOLATION (0xC0000005); "divide":
//                        divide an integer by zero, STATUS_INTEGER_DIVIDE_BY_ZERO
//                        (0xC0000094)
//
// Console modes, for stdio::pty(). They open the console by name (CONIN$,
// CONOUT$) instead of using the standard handles: under Wine 8 a ConPTY
// child's standard handles stay NULL, while Windows makes them the console's.
//   console-echo [N]     print "ready", then "got: LINE" for each line read
//                        from the console, and "eof" at end of input (a line
//                        that starts with Ctrl-Z); exit N (default 0)
//   console-size [wait]  print "size COLSxROWS" of the console window; with
//                        "wait", read one line and print it again
//   std-kinds            print "stdin=K stdout=K stderr=K" to the console,
//                        K one of console, pipe, file, char, none, other
//
// Exit 64 for a usage error, as child.cpp does. Build (mingw-w64):
//   x86_64-w64-mingw32-g++-posix -std=c++20 -O1 -static -municode child_windows.cpp -o pipekit_child.exe
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cwchar>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// The C runtime of mingw-w64 can expand wildcards in the command line before
// wmain (a toolchain build option); this child must see its arguments exactly
// as sent, so it asks for no expansion whatever the default.
extern "C" {
int _dowildcard = 0;  // NOLINT(readability-identifier-naming): the CRT's name
}

namespace {

char pattern_byte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 4096) % 26); }

std::string to_utf8(std::wstring_view w) {
  if (w.empty()) return {};
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, w.data(), static_cast<int>(w.size()), s.data(), n, nullptr, nullptr);
  return s;
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
long long read_some(HANDLE h, char* buf, DWORD size) {
  DWORD got = 0;
  if (!::ReadFile(h, buf, size, &got, nullptr)) {
    const DWORD e = ::GetLastError();
    return e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF ? 0 : -1;
  }
  return got;
}

int spew(std::size_t bytes, HANDLE h) {
  std::vector<char> buf(65536);
  std::size_t done = 0;
  while (done < bytes) {
    const std::size_t n = std::min(buf.size(), bytes - done);
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(done + i);
    if (!write_all(h, buf.data(), n)) return 1;
    done += n;
  }
  return 0;
}

// Reads and writes at the same time, the way a filter with two outputs does;
// a parent that does not drain both outputs while feeding input deadlocks.
// Blocking I/O on three threads instead of child.cpp's poll() loop: anonymous
// pipes on Windows cannot be polled.
int big_io(std::size_t n) {
  std::atomic<bool> input_ok{true};
  std::atomic<std::size_t> input_done{0};
  std::atomic<bool> write_failed{false};
  std::thread reader([&] {
    std::vector<char> buf(65536);
    std::size_t done = 0;
    bool ok = true;
    while (done < n) {
      const long long r = read_some(std_handle(0), buf.data(), static_cast<DWORD>(buf.size()));
      if (r <= 0) break;
      for (long long i = 0; i < r; ++i)
        ok = ok && buf[static_cast<std::size_t>(i)] == pattern_byte(done + static_cast<std::size_t>(i));
      done += static_cast<std::size_t>(r);
    }
    input_ok = ok;
    input_done = done;
  });
  auto writer = [&](int which) {
    if (spew(n, std_handle(which)) != 0) write_failed = true;
  };
  std::thread out(writer, 1);
  std::thread err(writer, 2);
  out.join();
  err.join();
  reader.join();
  if (write_failed) return 3;
  return input_ok && input_done == n ? 0 : 4;
}

int print_env(int argc, wchar_t** argv) {
  if (argc > 2) {
    const DWORD size = ::GetEnvironmentVariableW(argv[2], nullptr, 0);
    if (size == 0) return 1;  // not set (an empty value still needs room for the terminator)
    std::wstring value(size, L'\0');
    const DWORD len = ::GetEnvironmentVariableW(argv[2], value.data(), size);
    value.resize(len);
    return write_all(std_handle(1), to_utf8(value) + "\n") ? 0 : 1;
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
  return write_all(std_handle(1), out) ? 0 : 1;
}

int print_cwd() {
  const DWORD size = ::GetCurrentDirectoryW(0, nullptr);
  if (size == 0) return 1;
  std::wstring dir(size, L'\0');
  dir.resize(::GetCurrentDirectoryW(size, dir.data()));
  return write_all(std_handle(1), to_utf8(dir) + "\n") ? 0 : 1;
}

// A grandchild that holds our standard handles, as a forked child would on
// POSIX: a parent that waits for EOF on our stdout waits for it too.
int spawn_grandchild() {
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
  if (!write_all(std_handle(1), std::to_string(pi.dwProcessId) + "\n")) return 3;
  ::FlushFileBuffers(std_handle(1));  // a no-op for pipes; WriteFile is unbuffered already
  ::Sleep(60000);
  return 0;
}

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

long long number(int argc, wchar_t** argv, int i, long long dflt = 0) {
  return argc > i ? std::wcstoll(argv[i], nullptr, 10) : dflt;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  if (argc < 2) {
    write_all(std_handle(2), "usage: pipekit_child MODE [ARGS]\n");
    return 64;
  }
  const std::wstring_view mode = argv[1];

  if (mode == L"echo") {
    std::vector<char> buf(65536);
    for (;;) {
      const long long r = read_some(std_handle(0), buf.data(), static_cast<DWORD>(buf.size()));
      if (r <= 0) return r == 0 ? 0 : 1;
      if (!write_all(std_handle(1), buf.data(), static_cast<std::size_t>(r))) return 1;
    }
  }
  if (mode == L"exit") return static_cast<int>(number(argc, argv, 2));
  if (mode == L"spew") {
    const long long which = number(argc, argv, 3, 1);
    if (which != 1 && which != 2) return 64;
    return spew(static_cast<std::size_t>(number(argc, argv, 2)), std_handle(static_cast<int>(which)));
  }
  if (mode == L"sleep") {
    ::Sleep(static_cast<DWORD>(number(argc, argv, 2)));
    return 0;
  }
  if (mode == L"print-env") return print_env(argc, argv);
  if (mode == L"print-args" || mode == L"print-args0") {
    const char end = mode == L"print-args" ? '\n' : '\0';
    std::string out;
    for (int i = 2; i < argc; ++i) {
      out += to_utf8(argv[i]);
      out += end;
    }
    return write_all(std_handle(1), out) ? 0 : 1;
  }
  if (mode == L"print-cmdline") return write_all(std_handle(1), to_utf8(::GetCommandLineW()) + "\n") ? 0 : 1;
  if (mode == L"print-cwd") return print_cwd();
  if (mode == L"big-io") return big_io(static_cast<std::size_t>(number(argc, argv, 2)));
  if (mode == L"wait-eof") {
    std::vector<char> buf(4096);
    while (read_some(std_handle(0), buf.data(), static_cast<DWORD>(buf.size())) > 0) {
    }
    return write_all(std_handle(1), "eof\n") ? 0 : 1;
  }
  if (mode == L"spawn-grandchild") return spawn_grandchild();
  if (mode == L"crash") {
    if (argc > 2 && std::wstring_view(argv[2]) == L"divide") crash_divide();
    crash();
  }
  if (mode == L"console-echo") return console_echo(static_cast<int>(number(argc, argv, 2)));
  if (mode == L"console-size") return console_size(argc > 2 && std::wstring_view(argv[2]) == L"wait");
  if (mode == L"std-kinds") return std_kinds();
  write_all(std_handle(2), "pipekit_child: unknown mode '" + to_utf8(mode) + "'\n");
  return 64;
}
