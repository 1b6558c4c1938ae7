// Windows spawn: CreateProcessW with a quoted command line, exactly the
// chosen handles inherited (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), and a job
// object per child so terminate() and timeouts reach its whole tree.
// stdio::pty() attaches the child to a pseudo console (windows/conpty.hpp).
#include <windows.h>

#include <algorithm>
#include <array>
#include <cwctype>
#include <map>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "sys/io.hpp"
#include "sys/spawn.hpp"
#include "windows/command_line.hpp"
#include "windows/conpty.hpp"
#include "windows/win_error.hpp"
#include "windows/win_pipe.hpp"

namespace pipekit {

struct process_access {
  static process make(int pid, handle proc, handle job, handle_stream in, handle_stream out, handle_stream err,
                      handle_stream pty, on_destroy action) {
    process p;
    p.pid_ = pid;
    p.pgid_ = job ? pid : 0;
    p.proc_handle_ = std::move(proc);
    p.group_handle_ = std::move(job);
    p.in_ = std::move(in);
    p.out_ = std::move(out);
    p.err_ = std::move(err);
    p.pty_ = std::move(pty);
    p.on_destroy_ = action;
    return p;
  }
};

namespace detail {
namespace {

// PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE, which mingw-w64 declares only for
// NTDDI_VERSION >= Windows 10 1809.
constexpr DWORD_PTR pseudoconsole_attribute = 0x00020016;

// Case-insensitive, as Windows treats environment names.
struct env_less {
  bool operator()(const std::wstring& a, const std::wstring& b) const { return ::_wcsicmp(a.c_str(), b.c_str()) < 0; }
};

using environment_map = std::map<std::wstring, std::wstring, env_less>;

environment_map child_environment(const command& cmd) {
  environment_map env;
  if (!cmd.settings().env_clear) {
    wchar_t* block = ::GetEnvironmentStringsW();
    for (const wchar_t* p = block; p != nullptr && *p != L'\0'; p += std::wcslen(p) + 1) {
      const std::wstring_view kv(p);
      const std::size_t eq = kv.find(L'=', 1);  // names like "=C:" start with '='
      if (eq == std::wstring_view::npos) continue;
      env[std::wstring(kv.substr(0, eq))] = std::wstring(kv.substr(eq + 1));
    }
    if (block != nullptr) ::FreeEnvironmentStringsW(block);
  }
  for (const auto& [key, value] : cmd.settings().env) {
    if (value) env[to_wide(key)] = to_wide(*value);
    else env.erase(to_wide(key));
  }
  return env;
}

// The UTF-16 environment block: NAME=VALUE\0...\0, sorted by name as
// CreateProcessW documents.
std::wstring environment_block(const environment_map& env) {
  std::wstring out;
  for (const auto& [k, v] : env) {
    out += k;
    out += L'=';
    out += v;
    out += L'\0';
  }
  if (env.empty()) out += L'\0';
  out += L'\0';
  return out;
}

// The program on the child's PATH, as pipekit promises on every system:
// CreateProcessW itself would search the parent's. A name without an
// extension gets ".exe", as CreateProcessW does. Returns "" when the name
// has a directory part or is not on that PATH; CreateProcessW's own search
// (application and system directories) then decides.
std::wstring find_on_path(const std::string& program, const environment_map& env) {
  if (program.find_first_of("/\\:") != std::string::npos) return {};
  const auto path = env.find(L"PATH");
  if (path == env.end()) return {};
  std::wstring name = to_wide(program);
  const std::size_t dot = name.rfind(L'.');
  if (dot == std::wstring::npos || dot == 0) name += L".exe";
  std::wstring_view dirs = path->second;
  while (!dirs.empty()) {
    const std::size_t sep = dirs.find(L';');
    std::wstring dir(dirs.substr(0, sep));
    dirs = sep == std::wstring_view::npos ? std::wstring_view() : dirs.substr(sep + 1);
    if (dir.size() >= 2 && dir.front() == L'"' && dir.back() == L'"') dir = dir.substr(1, dir.size() - 2);
    if (dir.empty()) continue;
    std::wstring candidate = dir + (dir.back() == L'\\' || dir.back() == L'/' ? L"" : L"\\") + name;
    const DWORD attrs = ::GetFileAttributesW(candidate.c_str());
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY) == 0) return candidate;
  }
  return {};
}

// An inheritable duplicate of `h` for the child; the original stays ours.
handle inheritable_copy(HANDLE h, std::error_code& ec) {
  HANDLE out = nullptr;
  const HANDLE self = ::GetCurrentProcess();
  if (!::DuplicateHandle(self, h, self, &out, 0, TRUE, DUPLICATE_SAME_ACCESS)) {
    ec = last_win_error();
    return {};
  }
  return handle{out};
}

handle open_inheritable(const std::wstring& path, DWORD access, DWORD disposition, std::error_code& ec) {
  SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
  HANDLE h = ::CreateFileW(path.c_str(), access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &sa,
                           disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    ec = last_win_error();
    return {};
  }
  return handle{h};
}

}  // namespace

process spawn_process(const command& cmd, std::error_code& ec, spawn_failure& why) noexcept try {
  ec.clear();
  const auto& argv = cmd.argv();
  if (argv.empty()) {
    ec = make_error_code(errc::invalid_argument);
    why = {spawn_stage::validate, "empty command"};
    return {};
  }
  if (cmd.settings().keep_inherited_descriptors) {
    // Windows has no descriptor numbers to keep: a child gets the handles
    // named in its handle list (pass_handle) and nothing else.
    ec = make_error_code(errc::not_supported);
    why = {spawn_stage::validate, "keep_inherited_descriptors() is POSIX only"};
    return {};
  }
  const std::string line_utf8 = windows_command_line(argv, ec);
  if (ec) {
    why = {spawn_stage::validate, "an argument contains a NUL character, or argv[0] a double quote"};
    return {};
  }
  // CreateProcessW runs a batch file through cmd.exe, whose quoting rules no
  // quoting survives (see command_line.hpp): refuse what could be misread.
  // Without an extension CreateProcessW appends .exe, so argv[0] tells.
  if (is_batch_file(argv[0]) &&
      !std::all_of(argv.begin() + 1, argv.end(), [](const std::string& a) { return safe_for_batch_file(a); })) {
    ec = make_error_code(errc::invalid_argument);
    why = {spawn_stage::validate, "an argument cmd.exe could misread is passed to a batch file"};
    return {};
  }
  std::wstring line = to_wide(line_utf8);
  const environment_map env_map = child_environment(cmd);
  std::wstring env = environment_block(env_map);
  const std::wstring program = find_on_path(argv[0], env_map);
  std::wstring cwd;
  if (cmd.settings().cwd) cwd = cmd.settings().cwd->wstring();

  // The child's standard handles, all inheritable copies we close after.
  std::array<handle, 3> child_std;
  std::array<handle_stream, 3> parent_side;
  const std::array<const stdio*, 3> setups{&cmd.settings().in, &cmd.settings().out, &cmd.settings().err};
  const bool wants_pty =
      std::any_of(setups.begin(), setups.end(), [](const stdio* s) { return s->type() == stdio::kind::pty; });
  conpty pty;
  if (wants_pty) {
    pty = conpty::open(cmd.settings().pty_size, ec);
    if (ec) {
      why = {spawn_stage::pty, ec == errc::not_supported ? "this Windows has no pseudo console (ConPTY)" : ""};
      return {};
    }
  }
  const std::array<DWORD, 3> std_ids{STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
  for (std::size_t i = 0; i < 3; ++i) {
    const stdio& s = *setups[i];
    switch (s.type()) {
      case stdio::kind::inherit: {
        const HANDLE ours = ::GetStdHandle(std_ids[i]);
        if (ours != nullptr && ours != INVALID_HANDLE_VALUE) {
          std::error_code dup_ec;
          child_std[i] = inheritable_copy(ours, dup_ec);  // a console or closed handle may not duplicate: skip
        }
        break;
      }
      case stdio::kind::null:
        child_std[i] = open_inheritable(L"NUL", GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING, ec);
        if (ec) {
          why = {spawn_stage::open, "NUL"};
          return {};
        }
        break;
      case stdio::kind::pipe: {
        // Our end overlapped (communicate() and deadlines), the child's end
        // synchronous, as programs expect of their standard handles.
        win_pipe_ends p = make_win_pipe(default_pipe_capacity, i != 0, i == 0, ec);
        if (!ec) child_std[i] = inheritable_copy((i == 0 ? p.read_end : p.write_end).native_handle(), ec);
        if (ec) {
          why = {spawn_stage::pipe, ""};
          return {};
        }
        parent_side[i] = handle_stream{i == 0 ? std::move(p.write_end) : std::move(p.read_end)};
        break;
      }
      case stdio::kind::file: {
        const file_mode m = s.mode();
        const DWORD access = m == file_mode::read    ? GENERIC_READ
                             : m == file_mode::write ? GENERIC_WRITE
                                                     : FILE_APPEND_DATA;
        const DWORD disposition = m == file_mode::read    ? OPEN_EXISTING
                                  : m == file_mode::write ? CREATE_ALWAYS
                                                          : OPEN_ALWAYS;
        child_std[i] = open_inheritable(s.path().wstring(), access | SYNCHRONIZE, disposition, ec);
        if (ec) {
          why = {spawn_stage::open, s.path().string()};
          return {};
        }
        break;
      }
      case stdio::kind::borrowed:
        child_std[i] = inheritable_copy(s.borrowed_handle(), ec);
        if (ec) {
          why = {spawn_stage::descriptors, ""};
          return {};
        }
        break;
      case stdio::kind::to_stdout:
        if (i != 2) {
          ec = make_error_code(errc::invalid_argument);
          why = {spawn_stage::validate, "to_stdout() is for stderr only"};
          return {};
        }
        if (child_std[1]) child_std[2] = inheritable_copy(child_std[1].native_handle(), ec);
        if (ec) {
          why = {spawn_stage::descriptors, ""};
          return {};
        }
        break;
      case stdio::kind::pty:
        // No handle: a NULL standard handle of a process that starts on a
        // new console is the console's (Windows Terminal relies on it too).
        // Passing ours would bypass the console.
        break;
    }
  }

  // Exactly these handles reach the child.
  std::vector<HANDLE> inherit;
  for (const handle& h : child_std)
    if (h && std::find(inherit.begin(), inherit.end(), h.native_handle()) == inherit.end())
      inherit.push_back(h.native_handle());
  // Passed handles keep their value in the child (Windows has no descriptor
  // numbers): they are made inheritable for the duration of the call.
  std::vector<HANDLE> made_inheritable;
  for (const auto& [h, child_fd] : cmd.settings().passed_handles) {
    (void)child_fd;
    DWORD flags = 0;
    if (::GetHandleInformation(h, &flags) && (flags & HANDLE_FLAG_INHERIT) == 0) {
      ::SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
      made_inheritable.push_back(h);
    }
    if (std::find(inherit.begin(), inherit.end(), h) == inherit.end()) inherit.push_back(h);
  }

  // The handle list and the pseudo console, each when there is one.
  const DWORD attr_count = (inherit.empty() ? 0 : 1) + (wants_pty ? 1 : 0);
  SIZE_T attr_size = 0;
  ::InitializeProcThreadAttributeList(nullptr, std::max<DWORD>(attr_count, 1), 0, &attr_size);
  std::vector<char> attr_buf(attr_size);
  auto* attrs = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attr_buf.data());
  if (!::InitializeProcThreadAttributeList(attrs, std::max<DWORD>(attr_count, 1), 0, &attr_size)) {
    ec = last_win_error();
    why = {spawn_stage::descriptors, ""};
    return {};
  }
  struct attr_guard {
    LPPROC_THREAD_ATTRIBUTE_LIST a;
    ~attr_guard() { ::DeleteProcThreadAttributeList(a); }
  } guard{attrs};
  if (!inherit.empty() && !::UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit.data(),
                                                       inherit.size() * sizeof(HANDLE), nullptr, nullptr)) {
    ec = last_win_error();
    why = {spawn_stage::descriptors, ""};
    return {};
  }
  // The attribute holds the HPCON value itself (lpValue is the handle).
  if (wants_pty &&
      !::UpdateProcThreadAttribute(attrs, 0, pseudoconsole_attribute, pty.console(), sizeof(void*), nullptr, nullptr)) {
    ec = last_win_error();
    why = {spawn_stage::descriptors, ""};
    return {};
  }

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = child_std[0].native_handle();
  si.StartupInfo.hStdOutput = child_std[1].native_handle();
  si.StartupInfo.hStdError = child_std[2].native_handle();
  if (attr_count > 0) si.lpAttributeList = attrs;

  // The job: its own group unless the command stays in ours. Created before
  // the child, which starts suspended until it is inside.
  const bool wants_job = cmd.settings().group != process_group::inherit || cmd.settings().kill_on_parent_death;
  handle job;
  if (wants_job) {
    // CreateJobObjectW fails with NULL, which handle does not count as invalid.
    HANDLE created = ::CreateJobObjectW(nullptr, nullptr);
    if (created != nullptr) job = handle{created};
    if (created == nullptr) {
      ec = last_win_error();
      why = {spawn_stage::job, ""};
      return {};
    }
    if (cmd.settings().kill_on_parent_death) {
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION info{};
      info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
      ::SetInformationJobObject(job.native_handle(), JobObjectExtendedLimitInformation, &info, sizeof info);
    }
  }

  // With a pseudo console, neither CREATE_NO_WINDOW (a console of its own
  // instead) nor CREATE_NEW_PROCESS_GROUP (it would ignore the Ctrl-C the
  // console makes of a \x03 written to the terminal); the job still holds
  // the tree for terminate().
  PROCESS_INFORMATION pi{};
  const DWORD flags = CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT | (wants_pty ? 0 : CREATE_NO_WINDOW) |
                      (wants_job ? CREATE_SUSPENDED : 0) |
                      (cmd.settings().group != process_group::inherit && !wants_pty ? CREATE_NEW_PROCESS_GROUP : 0);
  const BOOL ok = ::CreateProcessW(program.empty() ? nullptr : program.c_str(), line.data(), nullptr, nullptr,
                                   inherit.empty() ? FALSE : TRUE, flags, env.data(),
                                   cwd.empty() ? nullptr : cwd.c_str(), &si.StartupInfo, &pi);
  const DWORD create_error = ok ? 0 : ::GetLastError();
  for (HANDLE h : made_inheritable) ::SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  if (!ok) {
    ec = win_error(create_error);
    why = {create_error == ERROR_DIRECTORY ? spawn_stage::chdir : spawn_stage::exec,
           create_error == ERROR_DIRECTORY ? cmd.settings().cwd->string() : std::string()};
    return {};
  }
  handle proc{pi.hProcess};
  handle thread{pi.hThread};
  const auto abandon = [&](spawn_stage stage) {
    ec = last_win_error();
    ::TerminateProcess(proc.native_handle(), 1);
    ::WaitForSingleObject(proc.native_handle(), INFINITE);
    why = {stage, ""};
  };
  if (wants_job && !::AssignProcessToJobObject(job.native_handle(), proc.native_handle())) {
    abandon(spawn_stage::job);
    return {};
  }
  handle_stream terminal;
  if (wants_pty) {
    std::error_code pty_ec;
    terminal = handle_stream{pty.start(proc.native_handle(), pty_ec)};
    if (pty_ec) {
      abandon(spawn_stage::pty);
      ec = pty_ec;
      return {};
    }
  }
  if (wants_job) ::ResumeThread(thread.native_handle());
  return process_access::make(static_cast<int>(pi.dwProcessId), std::move(proc), std::move(job),
                              std::move(parent_side[0]), std::move(parent_side[1]), std::move(parent_side[2]),
                              std::move(terminal), cmd.settings().when_destroyed);
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  why = {spawn_stage::resources, ""};
  return {};
}

bool wait_exited(const process_ids& p, deadline until, std::error_code& ec) noexcept {
  for (;;) {
    const int ms = timeout_ms(until);
    const DWORD r = ::WaitForSingleObject(p.handle, ms < 0 ? INFINITE : static_cast<DWORD>(ms));
    if (r == WAIT_OBJECT_0) return true;
    if (r == WAIT_TIMEOUT) {
      if (clock::now() >= until) return false;
      continue;
    }
    ec = last_win_error();
    return false;
  }
}

std::optional<exit_status> reap(const process_ids& p, bool block, std::error_code& ec) noexcept {
  const DWORD r = ::WaitForSingleObject(p.handle, block ? INFINITE : 0);
  if (r == WAIT_TIMEOUT) return std::nullopt;
  if (r != WAIT_OBJECT_0) {
    ec = last_win_error();
    return std::nullopt;
  }
  DWORD code = 0;
  if (!::GetExitCodeProcess(p.handle, &code)) {
    ec = last_win_error();
    return std::nullopt;
  }
  return exit_status::exited(static_cast<int>(code));
}

// Windows has no signals. pipekit's terminate and kill both end the process
// (TerminateProcess) or its job (TerminateJobObject) with exit code 1, as
// Python's Popen.terminate() does; other numbers are not supported.
void send_signal_to(const process_ids& p, int sig, std::error_code& ec) noexcept {
  if (sig != terminate_signal() && sig != kill_signal()) {
    ec = make_error_code(errc::not_supported);
    return;
  }
  if (!::TerminateProcess(p.handle, 1)) ec = last_win_error();
}

void send_signal_to_group(const process_ids& p, int sig, std::error_code& ec) noexcept {
  if (p.group == invalid_native_handle || p.group == nullptr) {
    send_signal_to(p, sig, ec);
    return;
  }
  if (sig != terminate_signal() && sig != kill_signal()) {
    ec = make_error_code(errc::not_supported);
    return;
  }
  if (!::TerminateJobObject(p.group, 1)) ec = last_win_error();
}

int terminate_signal() noexcept { return 15; }
int kill_signal() noexcept { return 9; }
int continue_signal() noexcept { return 0; }

void reclaim_terminal(native_handle_type) noexcept {}

void resize_pty(native_handle_type master, terminal_size size, std::error_code& ec) noexcept {
  resize_conpty(master, size, ec);
}

std::string signal_name(int sig) { return sig == 15 ? "terminate" : sig == 9 ? "kill" : std::string(); }

namespace {

constexpr DWORD status_misalignment = 0x80000002;    // STATUS_DATATYPE_MISALIGNMENT
constexpr DWORD status_breakpoint = 0x80000003;      // STATUS_BREAKPOINT
constexpr DWORD status_control_c_exit = 0xC000013A;  // STATUS_CONTROL_C_EXIT

// The statuses a process most often ends with when Windows ends it for an
// unhandled exception or a failed start, named as people say them.
struct status_name {
  DWORD code;
  const char* name;
};
constexpr status_name status_names[] = {
    {status_misalignment, "datatype misalignment"},
    {status_breakpoint, "breakpoint"},
    {0xC0000005, "access violation"},
    {0xC0000006, "in-page error"},
    {0xC000001D, "illegal instruction"},
    {0xC0000025, "noncontinuable exception"},
    {0xC000008C, "array bounds exceeded"},
    {0xC000008D, "floating-point denormal operand"},
    {0xC000008E, "floating-point divide by zero"},
    {0xC000008F, "floating-point inexact result"},
    {0xC0000090, "floating-point invalid operation"},
    {0xC0000091, "floating-point overflow"},
    {0xC0000092, "floating-point stack check"},
    {0xC0000093, "floating-point underflow"},
    {0xC0000094, "integer divide by zero"},
    {0xC0000095, "integer overflow"},
    {0xC0000096, "privileged instruction"},
    {0xC00000FD, "stack overflow"},
    {0xC0000135, "DLL not found"},
    {0xC0000139, "entry point not found"},
    {status_control_c_exit, "Ctrl-C"},
    {0xC0000142, "DLL initialization failed"},
    {0xC0000374, "heap corruption"},
    {0xC0000409, "stack buffer overrun / fast fail"},
    {0xC0000417, "invalid C runtime parameter"},
    {0xC0000420, "assertion failure"},
    {0xC0000602, "fail fast"},
};

}  // namespace

// Windows has no signals: a crash is in the exit code.
bool is_crash_signal(int) noexcept { return false; }

bool is_crash_code(int code) noexcept {
  const auto c = static_cast<DWORD>(code);
  // Severity "error" with the customer bit clear: a status of the system's,
  // not a small negative exit code such as exit(-1).
  if ((c & 0xE0000000u) == 0xC0000000u) return c != status_control_c_exit;
  return c == status_misalignment || c == status_breakpoint;
}

std::string exit_code_name(int code) {
  for (const status_name& s : status_names)
    if (s.code == static_cast<DWORD>(code)) return s.name;
  return {};
}

}  // namespace detail
}  // namespace pipekit
