// POSIX spawn: everything the parent prepares before a child starts (the
// environment, the program path, the standard streams, the pty), then one
// launch_child() call, then the parent's side of the result.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <thread>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "posix/child_setup.hpp"
#include "posix/syscall.hpp"
#include "sys/io.hpp"
#include "sys/spawn.hpp"
#include "sys/stream_access.hpp"

extern char** environ;

namespace pipekit {

// Lets the platform code fill in a process's private state.
struct process_access {
  static process make(int pid, int pgid, handle pidfd, handle_stream in, handle_stream out, handle_stream err,
                      handle_stream pty, handle foreground_tty, on_destroy action) {
    process p;
    p.pid_ = pid;
    p.pgid_ = pgid;
    p.proc_handle_ = std::move(pidfd);
    p.in_ = std::move(in);
    p.out_ = std::move(out);
    p.err_ = std::move(err);
    p.pty_ = std::move(pty);
    p.foreground_tty_ = std::move(foreground_tty);
    p.on_destroy_ = action;
    return p;
  }
};

namespace detail {
namespace {

std::vector<std::string> build_environment(const command& cmd) {
  std::vector<std::string> env;
  if (!cmd.settings().env_clear)
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& [key, value] : cmd.settings().env) {
    const std::string prefix = key + "=";
    std::erase_if(env, [&](const std::string& kv) { return kv.compare(0, prefix.size(), prefix) == 0; });
    if (value) env.push_back(prefix + *value);
  }
  return env;
}

bool is_executable_file(const std::string& path, int& err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    err = errno;
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    err = EACCES;
    return false;
  }
  if (::access(path.c_str(), X_OK) != 0) {
    err = errno;
    return false;
  }
  return true;
}

// execvp's search, done in the parent so the child only calls execve. The
// child's PATH wins when the command sets one. A program found but not
// executable gives EACCES (exit 126 at a shell), not found at all ENOENT.
std::string resolve_program(const std::string& name, const std::vector<std::string>& env, int& err) {
  if (name.empty()) {
    err = ENOENT;
    return {};
  }
  if (name.find('/') != std::string::npos) return name;  // relative to the (new) cwd, as execve does
  std::string path_var;
  bool have_path = false;
  for (const auto& kv : env)
    if (kv.compare(0, 5, "PATH=") == 0) {
      path_var = kv.substr(5);
      have_path = true;
    }
  if (!have_path) {
    const char* p = ::getenv("PATH");
    path_var = p != nullptr ? p : "/usr/local/bin:/usr/bin:/bin";
  }
  int first_err = ENOENT;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = path_var.find(':', start);
    // An empty PATH entry means the current directory.
    const std::string dir = path_var.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    int e = 0;
    if (is_executable_file(candidate, e)) return candidate;
    if (e == EACCES && first_err == ENOENT) first_err = EACCES;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  err = first_err;
  return {};
}

handle open_file(const stdio& s, int std_fd, std::error_code& ec) {
  int flags = O_CLOEXEC;
  if (s.mode() == file_mode::read) flags |= O_RDONLY;
  else if (s.mode() == file_mode::write) flags |= O_WRONLY | O_CREAT | O_TRUNC;
  else flags |= O_WRONLY | O_CREAT | O_APPEND;
  (void)std_fd;
  const int fd = ::open(s.path().c_str(), flags, 0666);
  if (fd < 0) ec = system_error_code(errno);
  return handle{fd};
}

struct pty_pair {
  handle master;
  handle slave;
};

pty_pair open_pty(terminal_size size, std::error_code& ec) {
  pty_pair p;
  p.master = handle{::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)};
  if (!p.master) {
    ec = system_error_code(errno);
    return {};
  }
  if (::grantpt(p.master.native_handle()) != 0 || ::unlockpt(p.master.native_handle()) != 0) {
    ec = system_error_code(errno);
    return {};
  }
  char name[128];
  if (::ptsname_r(p.master.native_handle(), name, sizeof name) != 0) {
    ec = system_error_code(errno);
    return {};
  }
  p.slave = handle{::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)};
  if (!p.slave) {
    ec = system_error_code(errno);
    return {};
  }
  resize_pty(p.master.native_handle(), size, ec);
  if (ec) return {};
  return p;
}

// execve() says ENOENT for a program that exists when its "#!" interpreter
// does not: then the interpreter is what is missing, and the message says so.
// The path is relative to the child's working directory, as execve saw it.
std::string missing_interpreter(const std::string& path, const std::string& cwd) {
  const std::string full = path.front() == '/' || cwd.empty() ? path : cwd + "/" + path;
  handle f{::open(full.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!f) return {};
  char head[256];
  const ssize_t n = posix::retry_eintr([&] { return ::read(f.native_handle(), head, sizeof head); });
  const std::string line(head, n > 0 ? static_cast<std::size_t>(n) : 0);
  std::string interpreter = "interpreter";
  if (line.starts_with("#!")) {
    const std::size_t start = line.find_first_not_of(" \t", 2);
    const std::size_t end = line.find_first_of(" \t\n", start == std::string::npos ? line.size() : start);
    if (start != std::string::npos) interpreter += " '" + line.substr(start, end - start) + "'";
  }
  return interpreter + " not found";
}

int max_descriptor() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20))
    return static_cast<int>(rl.rlim_cur);
  return 1 << 16;
}

}  // namespace

process spawn_process(const command& cmd, std::error_code& ec, spawn_failure& why) noexcept try {
  ec.clear();
  const auto& argv_in = cmd.argv();
  if (argv_in.empty()) {
    ec = make_error_code(errc::invalid_argument);
    why = {spawn_stage::validate, "empty command"};
    return {};
  }

  std::vector<std::string> env = build_environment(cmd);
  int resolve_err = 0;
  const std::string path = resolve_program(argv_in[0], env, resolve_err);
  if (path.empty()) {
    ec = system_error_code(resolve_err);
    why = {spawn_stage::exec, ""};
    return {};
  }

  // Standard streams: what the child gets as 0, 1, 2 and what we keep.
  std::vector<fd_move> moves;
  std::vector<handle> child_side;  // closed in the parent once the child has them
  std::array<handle_stream, 3> parent_side;
  handle null_fd;
  pty_pair pty;
  int ctty = -1;
  const std::array<const stdio*, 3> setups{&cmd.settings().in, &cmd.settings().out, &cmd.settings().err};
  bool wants_pty = false;
  for (const stdio* s : setups) wants_pty = wants_pty || s->type() == stdio::kind::pty;
  if (wants_pty) {
    pty = open_pty(cmd.settings().pty_size, ec);
    if (ec) {
      why = {spawn_stage::pty, ""};
      return {};
    }
  }
  std::array<int, 3> source{-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    const stdio& s = *setups[static_cast<std::size_t>(i)];
    switch (s.type()) {
      case stdio::kind::inherit: break;
      case stdio::kind::null:
        if (!null_fd) {
          null_fd = handle{::open("/dev/null", O_RDWR | O_CLOEXEC)};
          if (!null_fd) {
            ec = system_error_code(errno);
            why = {spawn_stage::open, "/dev/null"};
            return {};
          }
        }
        source[static_cast<std::size_t>(i)] = null_fd.native_handle();
        break;
      case stdio::kind::pipe: {
        pipe_pair p = make_pipe(pipe_options{}, ec);
        if (ec) {
          why = {spawn_stage::pipe, ""};
          return {};
        }
        if (i == 0) {
          source[0] = p.read_end.native_handle();
          child_side.push_back(p.read_end.release_handle());
          parent_side[0] = std::move(p.write_end);
        } else {
          source[static_cast<std::size_t>(i)] = p.write_end.native_handle();
          stream_access::move_pipe_budget(p.write_end, p.read_end);
          child_side.push_back(p.write_end.release_handle());
          parent_side[static_cast<std::size_t>(i)] = std::move(p.read_end);
        }
        break;
      }
      case stdio::kind::file: {
        handle f = open_file(s, i, ec);
        if (ec) {
          why = {spawn_stage::open, s.path().string()};
          return {};
        }
        source[static_cast<std::size_t>(i)] = f.native_handle();
        child_side.push_back(std::move(f));
        break;
      }
      case stdio::kind::borrowed: source[static_cast<std::size_t>(i)] = s.borrowed_handle(); break;
      case stdio::kind::to_stdout:
        if (i != 2) {
          ec = make_error_code(errc::invalid_argument);
          why = {spawn_stage::validate, "to_stdout() is for stderr only"};
          return {};
        }
        source[2] = source[1] >= 0 ? source[1] : 1;
        break;
      case stdio::kind::pty:
        source[static_cast<std::size_t>(i)] = pty.slave.native_handle();
        if (ctty < 0) ctty = i;
        break;
    }
    if (source[static_cast<std::size_t>(i)] >= 0) moves.push_back({source[static_cast<std::size_t>(i)], i});
  }
  std::vector<int> kept;
  for (const auto& [h, child_fd] : cmd.settings().passed_handles) {
    if (child_fd < 3) {
      ec = make_error_code(errc::invalid_argument);
      why = {spawn_stage::validate, "descriptors 0-2 are set with set_stdin/set_stdout/set_stderr"};
      return {};
    }
    moves.push_back({h, child_fd});
    kept.push_back(child_fd);
  }
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());

  std::vector<char*> argv;
  argv.reserve(argv_in.size() + 1);
  for (const auto& a : argv_in) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  static char shell_path[] = "/bin/sh";
  std::vector<char*> shell_argv;
  shell_argv.reserve(argv_in.size() + 2);
  shell_argv.push_back(shell_path);
  shell_argv.push_back(const_cast<char*>(path.c_str()));
  for (std::size_t i = 1; i < argv_in.size(); ++i) shell_argv.push_back(const_cast<char*>(argv_in[i].c_str()));
  shell_argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (const auto& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  std::string cwd;
  if (cmd.settings().cwd) cwd = cmd.settings().cwd->string();

  child_plan plan;
  plan.path = path.c_str();
  plan.argv = argv.data();
  plan.shell_argv = shell_argv.data();
  plan.envp = envp.data();
  plan.cwd = cmd.settings().cwd ? cwd.c_str() : nullptr;
  plan.moves = moves.data();
  plan.move_count = static_cast<int>(moves.size());
  plan.kept = kept.data();
  plan.kept_count = static_cast<int>(kept.size());
  plan.max_fd = max_descriptor();
  plan.close_others = !cmd.settings().keep_inherited_descriptors;
  plan.new_session = wants_pty || cmd.settings().group == process_group::new_session;
  plan.new_group = cmd.settings().group == process_group::new_group;
  plan.controlling_tty = ctty;
  plan.parent_death_signal = cmd.settings().kill_on_parent_death;
  plan.parent_pid = ::getpid();

  // The parent's terminal, when the child's new group is to take it.
  handle foreground_tty;
  if (cmd.settings().foreground && plan.new_group && !plan.new_session) {
    foreground_tty = handle{::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)};
    if (foreground_tty && ::tcgetpgrp(foreground_tty.native_handle()) == ::getpgrp())
      plan.foreground_tty = foreground_tty.native_handle();
    else foreground_tty = handle{};
  }

  const launch_result r = launch_child(plan);
  if (r.launch_error != 0) {
    ec = system_error_code(r.launch_error);
    why = {spawn_stage::launch, ""};
    return {};
  }
  if (r.failure.stage != child_stage::none) {
    ec = system_error_code(r.failure.error);
    why = {public_stage(r.failure.stage), r.failure.stage == child_stage::chdir ? cwd : std::string{}};
    if (r.failure.stage == child_stage::exec && r.failure.error == ENOENT) why.detail = missing_interpreter(path, cwd);
    return {};
  }
  const int pgid = (plan.new_group || plan.new_session) ? r.pid : 0;
  handle_stream pty_master;
  if (wants_pty) pty_master = handle_stream{std::move(pty.master)};
  return process_access::make(r.pid, pgid, handle{r.pidfd}, std::move(parent_side[0]), std::move(parent_side[1]),
                              std::move(parent_side[2]), std::move(pty_master), std::move(foreground_tty),
                              cmd.settings().when_destroyed);
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  why = {spawn_stage::resources, ""};
  return {};
}

bool wait_exited(const process_ids& p, deadline until, std::error_code& ec) noexcept {
  const int pid = p.pid;
  if (const int pidfd = p.handle; pidfd >= 0) {
    // A pidfd turns readable when the process exits; it stays a zombie.
    return wait_handle(pidfd, events::readable, until, ec);
  }
  // No pidfd: poll with waitid(WNOWAIT) and a growing sleep.
  auto pause = std::chrono::microseconds(100);
  for (;;) {
    siginfo_t info{};
    if (posix::retry_eintr(
            [&] { return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT); }) != 0) {
      ec = system_error_code(errno);
      return false;
    }
    if (info.si_pid == pid) return true;
    const auto now = clock::now();
    if (now >= until) return false;
    const auto left = until - now;
    std::this_thread::sleep_for(std::min<clock::duration>(pause, left));
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}

std::optional<exit_status> reap(const process_ids& p, bool block, std::error_code& ec) noexcept {
  const int pid = p.pid;
  int status = 0;
  for (;;) {
    const pid_t r = posix::retry_eintr([&] { return ::waitpid(pid, &status, block ? 0 : WNOHANG); });
    if (r == pid) break;
    if (r == 0) return std::nullopt;
    ec = system_error_code(errno);
    return std::nullopt;
  }
  if (WIFSIGNALED(status)) return exit_status::signaled(WTERMSIG(status), WCOREDUMP(status));
  return exit_status::exited(WEXITSTATUS(status));
}

void send_signal_to(const process_ids& p, int sig, std::error_code& ec) noexcept {
  if (::kill(p.pid, sig) != 0) ec = system_error_code(errno);
}

void send_signal_to_group(const process_ids& p, int sig, std::error_code& ec) noexcept {
  if (::kill(p.pgid > 0 ? -p.pgid : p.pid, sig) != 0) ec = system_error_code(errno);
}

int terminate_signal() noexcept { return SIGTERM; }
int kill_signal() noexcept { return SIGKILL; }
int continue_signal() noexcept { return SIGCONT; }

void reclaim_terminal(native_handle_type tty) noexcept {
  // We are in the background now: tcsetpgrp would raise SIGTTOU.
  sigset_t ttou;
  sigset_t old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, &old);
  ::tcsetpgrp(tty, ::getpgrp());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void resize_pty(native_handle_type master, terminal_size size, std::error_code& ec) noexcept {
  struct winsize ws {};
  ws.ws_row = size.rows;
  ws.ws_col = size.columns;
  if (::ioctl(master, TIOCSWINSZ, &ws) != 0) ec = system_error_code(errno);
}

std::string signal_name(int sig) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
#endif
  (void)sig;
  return {};
}

bool is_crash_signal(int sig) noexcept {
  // The signals a program's own fault raises (and abort()), whose default
  // action dumps core; SIGQUIT dumps core too but is sent by a user.
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGABRT:
    case SIGSYS:
    case SIGTRAP: return true;
    default: return false;
  }
}

// POSIX exit codes are 0-255: none of them is a crash, none has a name.
bool is_crash_code(int) noexcept { return false; }
std::string exit_code_name(int) { return {}; }

}  // namespace detail
}  // namespace pipekit
