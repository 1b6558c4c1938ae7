// Windows spawn: CreateProcessW with a quoted command line, exactly the
// chosen handles inherited (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), and a job
// object per child so terminate() and timeouts reach its whole tree.
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
#include "windows/win_error.hpp"
#include "windows/win_pipe.hpp"

namespace pipekit {

struct process_access {
  static process make(int pid, handle proc, handle job, handle_stream in, handle_stream out, handle_stream err,
                      on_destroy action) {
    process p;
    p.pid_ = pid;
    p.pgid_ = job ? pid : 0;
    p.proc_handle_ = std::move(proc);
    p.group_handle_ = std::move(job);
    p.in_ = std::move(in);
    p.out_ = std::move(out);
    p.err_ = std::move(err);
    p.on_destroy_ = action;
    return p;
  }
};

namespace detail {
namespace {

// Case-insensitive, as Windows treats environment names.
struct env_less {
  bool operator()(const std::wstring& a, const std::wstring& b) const { return ::_wcsicmp(a.c_str(), b.c_str()) < 0; }
};

using environment_map = std::map<std::wstring, std::wstring, env_less>;

environment_map child_environment(const command& cmd) {
  environment_map env;
  if (!cmd.env_cleared()) {
    wchar_t* block = ::GetEnvironmentStringsW();
    for (const wchar_t* p = block; p != nullptr && *p != L'\0'; p += std::wcslen(p) + 1) {
      const std::wstring_view kv(p);
      const std::size_t eq = kv.find(L'=', 1);  // names like "=C:" start with '='
      if (eq == std::wstring_view::npos) continue;
      env[std::wstring(kv.substr(0, eq))] = std::wstring(kv.substr(eq + 1));
    }
    if (block != nullptr) ::FreeEnvironmentStringsW(block);
  }
  for (const auto& [key, value] : cmd.env_edits()) {
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
    why = {"argv", "empty command"};
    return {};
  }
  const std::string line_utf8 = windows_command_line(argv, ec);
  if (ec) {
    why = {"argv", "an argument contains a NUL character, or argv[0] a double quote"};
    return {};
  }
  // CreateProcessW runs a batch file through cmd.exe, whose quoting rules no
  // quoting survives (see command_line.hpp): refuse what could be misread.
  // Without an extension CreateProcessW appends .exe, so argv[0] tells.
  if (is_batch_file(argv[0]) &&
      !std::all_of(argv.begin() + 1, argv.end(), [](const std::string& a) { return safe_for_batch_file(a); })) {
    ec = make_error_code(errc::invalid_argument);
    why = {"argv", "an argument cmd.exe could misread is passed to a batch file"};
    return {};
  }
  std::wstring line = to_wide(line_utf8);
  const environment_map env_map = child_environment(cmd);
  std::wstring env = environment_block(env_map);
  const std::wstring program = find_on_path(argv[0], env_map);
  std::wstring cwd;
  if (cmd.working_directory()) cwd = cmd.working_directory()->wstring();

  // The child's standard handles, all inheritable copies we close after.
  std::array<handle, 3> child_std;
  std::array<handle_stream, 3> parent_side;
  const std::array<const stdio*, 3> setups{&cmd.stdin_setup(), &cmd.stdout_setup(), &cmd.stderr_setup()};
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
          why = {"open", "NUL"};
          return {};
        }
        break;
      case stdio::kind::pipe: {
        // Our end overlapped (communicate() and deadlines), the child's end
        // synchronous, as programs expect of their standard handles.
        win_pipe_ends p = make_win_pipe(default_pipe_capacity, i != 0, i == 0, ec);
        if (!ec) child_std[i] = inheritable_copy((i == 0 ? p.read_end : p.write_end).get(), ec);
        if (ec) {
          why = {"pipe", ""};
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
          why = {"open", s.path().string()};
          return {};
        }
        break;
      }
      case stdio::kind::borrowed:
        child_std[i] = inheritable_copy(s.borrowed_handle(), ec);
        if (ec) {
          why = {"dup", ""};
          return {};
        }
        break;
      case stdio::kind::to_stdout:
        if (i != 2) {
          ec = make_error_code(errc::invalid_argument);
          why = {"stdio", "to_stdout() is for stderr only"};
          return {};
        }
        if (child_std[1]) child_std[2] = inheritable_copy(child_std[1].get(), ec);
        if (ec) {
          why = {"dup", ""};
          return {};
        }
        break;
      case stdio::kind::pty:
        // ConPTY (CreatePseudoConsole) is the way; it is not written yet.
        ec = make_error_code(errc::not_supported);
        why = {"pty", "pseudo-terminals are not supported on Windows yet"};
        return {};
    }
  }

  // Exactly these handles reach the child.
  std::vector<HANDLE> inherit;
  for (const handle& h : child_std)
    if (h && std::find(inherit.begin(), inherit.end(), h.get()) == inherit.end()) inherit.push_back(h.get());
  // Passed handles keep their value in the child (Windows has no descriptor
  // numbers): they are made inheritable for the duration of the call.
  std::vector<HANDLE> made_inheritable;
  for (const auto& [h, child_fd] : cmd.passed_handles()) {
    (void)child_fd;
    DWORD flags = 0;
    if (::GetHandleInformation(h, &flags) && (flags & HANDLE_FLAG_INHERIT) == 0) {
      ::SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
      made_inheritable.push_back(h);
    }
    if (std::find(inherit.begin(), inherit.end(), h) == inherit.end()) inherit.push_back(h);
  }

  SIZE_T attr_size = 0;
  ::InitializeProcThreadAttributeList(nullptr, 1, 0, &attr_size);
  std::vector<char> attr_buf(attr_size);
  auto* attrs = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attr_buf.data());
  if (!::InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size)) {
    ec = last_win_error();
    why = {"attributes", ""};
    return {};
  }
  struct attr_guard {
    LPPROC_THREAD_ATTRIBUTE_LIST a;
    ~attr_guard() { ::DeleteProcThreadAttributeList(a); }
  } guard{attrs};
  if (!inherit.empty() && !::UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit.data(),
                                                       inherit.size() * sizeof(HANDLE), nullptr, nullptr)) {
    ec = last_win_error();
    why = {"attributes", ""};
    return {};
  }

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = child_std[0].get();
  si.StartupInfo.hStdOutput = child_std[1].get();
  si.StartupInfo.hStdError = child_std[2].get();
  if (!inherit.empty()) si.lpAttributeList = attrs;

  // The job: its own group unless the command stays in ours. Created before
  // the child, which starts suspended until it is inside.
  const bool wants_job = cmd.group_setting() != process_group::inherit || cmd.kills_on_parent_death();
  handle job;
  if (wants_job) {
    job = handle{::CreateJobObjectW(nullptr, nullptr)};
    if (!job) {
      ec = last_win_error();
      why = {"job", ""};
      return {};
    }
    if (cmd.kills_on_parent_death()) {
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION info{};
      info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
      ::SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &info, sizeof info);
    }
  }

  PROCESS_INFORMATION pi{};
  const DWORD flags = CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT | CREATE_NO_WINDOW |
                      (wants_job ? CREATE_SUSPENDED : 0) |
                      (cmd.group_setting() != process_group::inherit ? CREATE_NEW_PROCESS_GROUP : 0);
  const BOOL ok = ::CreateProcessW(program.empty() ? nullptr : program.c_str(), line.data(), nullptr, nullptr,
                                   inherit.empty() ? FALSE : TRUE, flags, env.data(),
                                   cwd.empty() ? nullptr : cwd.c_str(), &si.StartupInfo, &pi);
  const DWORD create_error = ok ? 0 : ::GetLastError();
  for (HANDLE h : made_inheritable) ::SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  if (!ok) {
    ec = win_error(create_error);
    why = {create_error == ERROR_DIRECTORY ? "chdir" : "exec",
           create_error == ERROR_DIRECTORY ? cmd.working_directory()->string() : std::string()};
    return {};
  }
  handle proc{pi.hProcess};
  handle thread{pi.hThread};
  if (wants_job) {
    if (!::AssignProcessToJobObject(job.get(), proc.get())) {
      ec = last_win_error();
      ::TerminateProcess(proc.get(), 1);
      ::WaitForSingleObject(proc.get(), INFINITE);
      why = {"job", ""};
      return {};
    }
    ::ResumeThread(thread.get());
  }
  return process_access::make(static_cast<int>(pi.dwProcessId), std::move(proc), std::move(job),
                              std::move(parent_side[0]), std::move(parent_side[1]), std::move(parent_side[2]),
                              cmd.destroy_action());
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  why = {"alloc", ""};
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

void resize_pty(native_handle_type, terminal_size, std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
}

std::string signal_name(int sig) { return sig == 15 ? "terminate" : sig == 9 ? "kill" : std::string(); }

}  // namespace detail
}  // namespace pipekit
