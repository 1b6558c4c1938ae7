// Processes with piped standard streams.
//
//   pipekit::command cmd{"grep", "-c", "x"};
//   cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
//   pipekit::process p = cmd.spawn();
//   auto r = p.communicate("x\ny\nx\n", pipekit::after(std::chrono::seconds(5)));
//   pipekit::exit_status s = p.wait();      // r.out == "2\n", s.success()
//
// Or in one call, like Python's subprocess.run:
//   pipekit::run_result r = pipekit::run(pipekit::command{"uname", "-a"});
//
// What pipekit guarantees:
// - argv runs without a shell; the program is looked up on PATH (the child's
//   PATH if the command sets one) in the parent, before the child exists.
// - A program that cannot be started is an error of spawn() with the errno
//   and the program's name (never a fake exit status 127).
// - Spawning does not copy the parent's address space (Linux: clone with
//   CLONE_VM|CLONE_VFORK), so its cost does not grow with the parent's memory.
// - The child gets exactly the handles it was given: every other descriptor
//   is closed in the child, so concurrent spawns never leak pipe ends.
// - By default the child leads a new process group, so terminate() and
//   timeouts reach grandchildren that hold the pipes too.
// - Signal dispositions are reset to their defaults in the child (SIGPIPE
//   included) and the child's signal mask is empty.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/stream.hpp"
#include "pipekit/terminal.hpp"

namespace pipekit {

namespace detail {
struct process_ids;
}

enum class file_mode { read, write, append };

// How one standard stream of a child is set up.
class PIPEKIT_EXPORT stdio {
 public:
  enum class kind { inherit, null, pipe, file, borrowed, to_stdout, pty };

  static stdio inherit() { return stdio{kind::inherit}; }
  static stdio null() { return stdio{kind::null}; }
  static stdio pipe() { return stdio{kind::pipe}; }
  // write truncates or creates (mode 0666 less umask); append creates too.
  static stdio file(std::filesystem::path path, file_mode mode);
  // An existing handle, duplicated into the child; the caller keeps it.
  static stdio from(native_handle_type h);
  // For stderr only: the same destination as stdout (2>&1).
  static stdio to_stdout() { return stdio{kind::to_stdout}; }
  // The child's side of a pseudo-terminal. All streams of a command that ask
  // for a pty share one; the child gets it as its controlling terminal (it
  // leads a new session) and the parent reads and writes process::terminal().
  // Windows: a pseudo console (ConPTY, Windows 10 1809 and later, else
  // errc::not_supported). The child is attached to it, its pty streams are
  // the console's, and process::terminal() carries the console's VT output
  // and takes its input (Enter is "\r", Ctrl-C "\x03"). The console closes
  // when the child exits, ending any process still attached to it; reading
  // the terminal then gives the last output and end of stream.
  static stdio pty() { return stdio{kind::pty}; }

  [[nodiscard]] kind type() const noexcept { return kind_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] file_mode mode() const noexcept { return mode_; }
  [[nodiscard]] native_handle_type borrowed_handle() const noexcept { return handle_; }

 private:
  explicit stdio(kind k) : kind_(k) {}
  kind kind_ = kind::inherit;
  std::filesystem::path path_;
  file_mode mode_ = file_mode::read;
  native_handle_type handle_ = invalid_native_handle;
};

enum class process_group {
  inherit,      // stay in the parent's process group
  new_group,    // lead a new process group (the default)
  new_session,  // lead a new session (setsid): no controlling terminal
};

// What happens to a still-running child when its process object is destroyed.
enum class on_destroy {
  kill,    // SIGKILL to its group, then reap it (the default: no orphans, no zombies)
  detach,  // leave it running
};

class process;

// The step at which starting a process failed.
enum class spawn_stage : unsigned char {
  none,          // no failure
  validate,      // the command is invalid: empty, a NUL in an argument, a bad environment name, ...
  resources,     // out of memory or another resource before anything started
  pipe,          // creating a pipe for a standard stream
  pty,           // creating the pseudo-terminal / pseudo console
  open,          // opening a file for a standard stream (detail: its path)
  descriptors,   // moving descriptors/handles into place for the child
  session,       // setsid()
  group,         // setpgid()
  terminal,      // taking the terminal (foreground) or making it the controlling one
  parent_death,  // arranging kill-on-parent-death
  launch,        // creating the process itself (clone, fork, CreateProcess before exec)
  job,           // Windows: putting the child in its job object
  chdir,         // changing to the working directory (detail: the directory)
  exec,          // finding or executing the program (not found, not executable, bad format)
};
// "exec", "chdir", "open", ...
[[nodiscard]] PIPEKIT_EXPORT const char* to_string(spawn_stage s) noexcept;

// Why a spawn failed, besides its error code.
struct spawn_failure {
  spawn_stage stage = spawn_stage::none;
  std::string detail;  // e.g. the path that could not be opened, the invalid argument
};

// Everything a command says about the process to start, as plain data: what
// the builder calls of `command` set, and what launchers and the topologies
// read (command::settings()). Each field has the name of its setter.
struct command_settings {
  std::vector<std::string> argv;
  // Start from an empty environment instead of the parent's (env_clear()).
  bool env_clear = false;
  // In order: a value sets the variable, nullopt removes it (env_remove()).
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  std::optional<std::filesystem::path> cwd;
  stdio in = stdio::inherit();   // set_stdin()
  stdio out = stdio::inherit();  // set_stdout()
  stdio err = stdio::inherit();  // set_stderr()
  // (handle in this process, descriptor number in the child)
  std::vector<std::pair<native_handle_type, int>> passed_handles;
  bool keep_inherited_descriptors = false;
  process_group group = process_group::new_group;
  bool kill_on_parent_death = false;
  terminal_size pty_size{};
  bool foreground = false;
  on_destroy when_destroyed = on_destroy::kill;
};

class PIPEKIT_EXPORT command {
 public:
  explicit command(std::string program);
  command(std::initializer_list<std::string> argv);
  explicit command(std::vector<std::string> argv);

  command& arg(std::string a);
  command& args(const std::vector<std::string>& more);

  command& env(std::string key, std::string value);
  command& env_remove(std::string key);
  command& env_clear();  // start from an empty environment instead of the parent's

  command& cwd(std::filesystem::path dir);

  command& set_stdin(stdio s);
  command& set_stdout(stdio s);
  command& set_stderr(stdio s);

  // Hands `h` to the child as descriptor number `child_fd` (POSIX); the
  // caller keeps `h`. Descriptors not passed this way are closed in the child.
  command& pass_handle(native_handle_type h, int child_fd);
  // POSIX: the child also keeps every descriptor of this process that is not
  // close-on-exec, under its own number, as a plain fork+exec would (what
  // timeout(1) and env(1) do: `gpg --passphrase-fd 3`, make's jobserver,
  // systemd's LISTEN_FDS). Off by default: the child gets only its standard
  // streams and pass_handle()s. Every descriptor pipekit makes is
  // close-on-exec, so none of pipekit's own leak either way; a descriptor
  // another thread opens without O_CLOEXEC while this one spawns may. On
  // Windows spawn() fails with errc::not_supported when this is on.
  command& keep_inherited_descriptors(bool on = true);

  command& group(process_group g);
  // Linux: the child gets SIGKILL when the thread that spawned it exits.
  command& kill_on_parent_death(bool on = true);
  command& pty_size(terminal_size size);
  // When the parent is the foreground job of a terminal, the child's new
  // process group takes the terminal before the program starts (as a shell's
  // foreground job does), so the program can read it and Ctrl-C/Ctrl-Z reach
  // it directly. The terminal returns to the parent's group when the process
  // is reaped. Ignored when there is no such terminal or with
  // process_group::inherit / new_session.
  command& foreground(bool on = true);
  command& when_destroyed(on_destroy action);

  // Starts the command. The throwing form throws spawn_error, which names
  // the program and the stage; the error_code forms set ec to the errno (or
  // Windows error, or errc::invalid_argument for an invalid command) and,
  // with `why`, say at which stage and on what. Before anything starts, the
  // command is checked: an empty argv, a NUL byte in an argument, an
  // environment name that is empty or holds '=' or NUL, and a NUL in an
  // environment value or the working directory are invalid_argument
  // (stage validate, detail names the culprit).
  [[nodiscard]] process spawn() const;
  [[nodiscard]] process spawn(std::error_code& ec) const;
  [[nodiscard]] process spawn(std::error_code& ec, spawn_failure& why) const;

  // What the calls above set, read by launchers, the topologies and tests.
  [[nodiscard]] const command_settings& settings() const noexcept { return settings_; }
  [[nodiscard]] const std::vector<std::string>& argv() const noexcept { return settings_.argv; }

 private:
  command_settings settings_;
};

// How a process ended. Keeps the signal and core-dump information that a
// plain integer loses. A default-constructed status is "not started": the
// status of a command that never ran (run() when it could not start) or of
// a wait that failed. It is never a success.
class PIPEKIT_EXPORT exit_status {
 public:
  exit_status() noexcept = default;  // not started
  static exit_status exited(int code) noexcept { return exit_status{kind::exited, code, 0, false}; }
  static exit_status signaled(int signal, bool core_dumped) noexcept {
    return exit_status{kind::signaled, 0, signal, core_dumped};
  }

  // False for "not started"; true once the process ended in any way.
  [[nodiscard]] bool started() const noexcept { return kind_ != kind::not_started; }
  [[nodiscard]] bool success() const noexcept { return kind_ == kind::exited && code_ == 0; }
  [[nodiscard]] bool was_signaled() const noexcept { return kind_ == kind::signaled; }
  // The exit code, when the process exited normally.
  [[nodiscard]] std::optional<int> code() const noexcept {
    return kind_ == kind::exited ? std::optional<int>(code_) : std::nullopt;
  }
  // The signal that ended the process, if one did.
  [[nodiscard]] std::optional<int> signal() const noexcept {
    return kind_ == kind::signaled ? std::optional<int>(signal_) : std::nullopt;
  }
  [[nodiscard]] bool core_dumped() const noexcept { return core_dumped_; }
  // The status a shell reports: the code, or 128 + the signal number; -1
  // when the process was not started.
  [[nodiscard]] int shell_code() const noexcept {
    return kind_ == kind::signaled ? 128 + signal_ : kind_ == kind::exited ? code_ : -1;
  }
  // True when the process died of a fault rather than by exiting or being
  // ended on request. The rule:
  // - POSIX: it was ended by SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS
  //   or SIGTRAP (whoever sent it, as a shell reports it), or by any signal
  //   that dumped core. SIGKILL, SIGTERM, SIGINT, ... are not crashes.
  // - Windows: the exit code is a system NTSTATUS error, which is how Windows
  //   ends a process on an unhandled exception: bits 0xC0000000 set and the
  //   customer bit 0x20000000 clear, e.g. 0xC0000005 access violation,
  //   0xC0000094 integer divide by zero, 0xC00000FD stack overflow,
  //   0xC0000409 stack buffer overrun / fast fail, 0xC0000374 heap
  //   corruption, and the loader's 0xC0000135 DLL not found; and the two warning-severity exceptions that end a
  //   process, 0x80000002 misalignment and 0x80000003 breakpoint (SIGBUS's
  //   and SIGTRAP's twins). Except 0xC000013A (STATUS_CONTROL_C_EXIT):
  //   Ctrl-C, no crash, as SIGINT is none on POSIX. exit(-1) gives 0xFFFFFFFF,
  //   customer bit set: no crash. Not recognisable: a program that exits
  //   with such a code by choice (counted as a crash), and abort() in
  //   msvcrt programs (mingw), which exits with code 3 (not counted).
  [[nodiscard]] bool crashed() const noexcept;
  // "exited with code 3", "killed by signal 9 (SIGKILL)", "not started";
  // crashes: "crashed: signal 11 (SIGSEGV)", "..., core dumped" (POSIX),
  // "crashed: access violation (0xC0000005)" (Windows).
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const exit_status&, const exit_status&) = default;

 private:
  enum class kind : unsigned char { not_started, exited, signaled };
  exit_status(kind k, int code, int signal, bool core) noexcept
      : kind_(k), code_(code), signal_(signal), core_dumped_(core) {}
  kind kind_ = kind::not_started;
  int code_ = 0;
  int signal_ = 0;
  bool core_dumped_ = false;
};

// process::terminate() with a signal of one's choice, timeout(1)'s way.
struct terminate_options {
  // Sent to the group first; 0: SIGTERM. Windows ends the job at once for
  // SIGTERM (15) and SIGKILL (9) and has no other signals.
  int signal = 0;
  // How long the process has to end after `signal` before SIGKILL.
  std::chrono::milliseconds grace = std::chrono::seconds(5);
  // Also the descendants that left the group (Linux; see terminate()).
  // False: the process and its group only, like timeout(1) --foreground.
  bool descendants = true;
};

struct terminate_result {
  exit_status status;
  // The grace period passed with the process still running, so SIGKILL
  // ended it (timeout(1) exits 137 then). False when it ended in time, even
  // if SIGKILL then swept other members of its group.
  bool killed = false;
};

struct communicate_options {
  std::string_view input;        // written to stdin, which is then closed
  deadline until = no_deadline;  // errc timed_out after this; the child keeps running
  // When set, output is delivered here as it arrives, one line at a time
  // (without the '\n'; a last line without '\n' is delivered at end of
  // stream) and is not collected in the result.
  std::function<void(std::string_view)> on_stdout_line;
  std::function<void(std::string_view)> on_stderr_line;
  // The output you expect, in bytes: out (err) gets that capacity at its
  // first byte, so output up to it is never reallocated or copied again.
  // Only a hint: more output still grows the string.
  std::size_t reserve_out = 0;
  std::size_t reserve_err = 0;
};

// Output memory: out and err grow like any std::string up to 256 KiB; past
// that, by large steps (the first to 64 MiB or the reserve_ hint, then
// doubling) backed by huge pages where the system has them (Linux THP), so
// that collecting fresh output costs little more than reading it. capacity()
// may exceed size() by up to 64 MiB (or 2x): pages past size() were never
// written and hold no memory, only address space. A result kept across
// calls with communicate(options, result) reuses its capacity instead.
struct communicate_result {
  std::string out;
  std::string err;
  std::size_t input_written = 0;  // on timeout, how much of the input went in
};

class PIPEKIT_EXPORT process {
 public:
  process() noexcept = default;
  process(process&& other) noexcept;
  process& operator=(process&& other) noexcept;
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process();

  [[nodiscard]] bool valid() const noexcept { return pid_ > 0; }
  [[nodiscard]] int pid() const noexcept { return pid_; }
  // The process group the child leads, or 0 when it stayed in the parent's.
  [[nodiscard]] int group_id() const noexcept { return pgid_; }

  // The parent's ends of piped standard streams (closed streams if the
  // command did not ask for a pipe), and the pty master for stdio::pty().
  [[nodiscard]] handle_stream& in() noexcept { return in_; }
  [[nodiscard]] handle_stream& out() noexcept { return out_; }
  [[nodiscard]] handle_stream& err() noexcept { return err_; }
  [[nodiscard]] handle_stream& terminal() noexcept { return pty_; }
  // Sets the window size the child sees on its pseudo-terminal (SIGWINCH;
  // ResizePseudoConsole on Windows). invalid_argument without a terminal;
  // Windows: process_not_running once the child's console is closed.
  void resize_terminal(terminal_size size);
  void resize_terminal(terminal_size size, std::error_code& ec) noexcept;

  // A handle that turns readable when the process exits (a pidfd on Linux),
  // for waiting on exit and I/O with one poller; invalid_native_handle where
  // the system has none. The process still has to be reaped with a wait.
  [[nodiscard]] native_handle_type native_handle() const noexcept { return proc_handle_.native_handle(); }

  exit_status wait();
  exit_status wait(std::error_code& ec) noexcept;
  // nullopt when `until` passes first.
  std::optional<exit_status> wait_until(deadline until);
  std::optional<exit_status> wait_until(deadline until, std::error_code& ec) noexcept;
  // nullopt while the process is still running.
  std::optional<exit_status> try_wait();
  std::optional<exit_status> try_wait(std::error_code& ec) noexcept;
  // The status once a wait has collected it.
  [[nodiscard]] std::optional<exit_status> status() const noexcept { return status_; }

  // Sends `sig` to the process only.
  void send_signal(int sig);
  void send_signal(int sig, std::error_code& ec) noexcept;
  // Sends `sig` to the child's whole process group (or the process alone
  // when it stayed in the parent's group).
  void signal_group(int sig);
  void signal_group(int sig, std::error_code& ec) noexcept;

  // SIGTERM to the group, up to `grace` for the process to end, then SIGKILL
  // to the group — also when the process ended within the grace period, so
  // grandchildren that ignored SIGTERM do not survive. Waits and returns the
  // status.
  //
  // Who is reached:
  // - POSIX: the child's process group (it leads one by default).
  // - Linux, in addition: every descendant of the child that left the group
  //   (setsid(), setpgid()) while its chain of parents up to the child is
  //   alive: the tree is walked through /proc and each member stopped
  //   before its children are read, so none forks past the walk, and held
  //   by a pidfd, so no recycled pid is signalled. A descendant whose parent
  //   already exited (a daemon's double fork) has been re-parented to init
  //   and is out of reach, unless this process called become_subreaper():
  //   then it is this process's child, and kill_own_descendants() ends it.
  // - Windows: the job object, which holds every descendant whatever it did.
  // The same reach applies to the kill of on_destroy::kill and to run()'s
  // timeout.
  exit_status terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));
  exit_status terminate(std::chrono::milliseconds grace, std::error_code& ec) noexcept;
  // The same with options.signal in place of SIGTERM (SIGCONT follows it
  // unless it is SIGKILL), and whether SIGKILL was needed. A signal the
  // system cannot send (EINVAL; Windows: anything but 15 and 9) is an error
  // (errc::not_supported on Windows) and nothing is sent.
  terminate_result terminate(const terminate_options& options);
  terminate_result terminate(const terminate_options& options, std::error_code& ec) noexcept;

  // Feeds stdin while draining stdout and stderr, so neither side can block
  // the other (no deadlock whatever the sizes). Returns when both outputs
  // reach end of stream; does not wait for the process (call wait()).
  communicate_result communicate(std::string_view input = {}, deadline until = no_deadline);
  communicate_result communicate(const communicate_options& options);
  communicate_result communicate(const communicate_options& options, std::error_code& ec);
  // The same into `result`, which can be kept across calls: its out and err
  // are cleared first and keep their capacity, so output that fits in what
  // an earlier call left costs no allocation.
  void communicate(const communicate_options& options, communicate_result& result);
  void communicate(const communicate_options& options, communicate_result& result, std::error_code& ec);

  // Lets the child run on after this object is gone.
  void detach() noexcept;

 private:
  friend class command;
  friend struct process_access;
  void destroy() noexcept;
  void reaped() noexcept;  // gives back a terminal the child took (foreground)
  [[nodiscard]] detail::process_ids ids() const noexcept;

  int pid_ = 0;
  int pgid_ = 0;
  handle proc_handle_;   // Linux: a pidfd (waits poll it, no pid races); Windows: the process HANDLE
  handle group_handle_;  // Windows: the job object holding the child's tree
  handle_stream in_, out_, err_, pty_;
  handle foreground_tty_;  // the terminal the child's group took, given back when reaped
  std::optional<exit_status> status_;
  on_destroy on_destroy_ = on_destroy::kill;
};

// A spawn failure from the throwing form: code() is the errno (Windows
// error); program() says which program, stage() at which step, detail() on
// what (a path, an argument).
class PIPEKIT_EXPORT spawn_error : public std::system_error {
 public:
  spawn_error(std::error_code ec, std::string program, spawn_failure why);
  [[nodiscard]] const std::string& program() const noexcept { return program_; }
  [[nodiscard]] spawn_stage stage() const noexcept { return why_.stage; }
  [[nodiscard]] const std::string& detail() const noexcept { return why_.detail; }

 private:
  std::string program_;
  spawn_failure why_;
};

// Linux: makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): a
// descendant whose parent exits is re-parented to this process instead of
// init, so it stays within reach of kill_own_descendants(). Process-wide and
// permanent; pipekit never does it by itself (the pipekit command does, as
// it owns every child it has). errc::not_supported elsewhere.
PIPEKIT_EXPORT void become_subreaper();
PIPEKIT_EXPORT void become_subreaper(std::error_code& ec) noexcept;

// Linux: SIGKILL to every descendant of this process (found and stopped as
// terminate() finds them), then reaps those that are its own children.
// Returns how many were killed. For a supervisor that owns all its children
// (with become_subreaper()), once its process objects are done: a child a
// process object still owns dies too, and that object's wait() then fails.
// errc::not_supported elsewhere.
PIPEKIT_EXPORT std::size_t kill_own_descendants();
PIPEKIT_EXPORT std::size_t kill_own_descendants(std::error_code& ec) noexcept;

struct run_result {
  std::string out;
  std::string err;
  // "Not started" (exit_status::started() false) when the command could not
  // start; `failure` then says why.
  exit_status status;
  spawn_failure failure;
};

// run()'s throwing form when the deadline passed: the child's tree was
// terminated, and result() holds what it wrote until then and its status
// (like Python's subprocess.TimeoutExpired with .stdout and .stderr).
// code() == std::errc::timed_out.
class PIPEKIT_EXPORT timeout_error : public std::system_error {
 public:
  timeout_error(run_result partial, const std::string& what);
  [[nodiscard]] const run_result& result() const noexcept { return *result_; }

 private:
  std::shared_ptr<const run_result> result_;  // shared: exceptions are copied
};

// Runs `cmd` to completion with stdin, stdout and stderr piped (stdio the
// command already set to something other than inherit is kept). On timeout
// the child's tree is terminated (SIGTERM, then SIGKILL after `kill_after`;
// see process::terminate()).
// - error_code form: ec = std::errc::timed_out and the result holds what was
//   read so far; a command that cannot start sets ec, status is "not
//   started" and failure says why.
// - throwing form: spawn_error when the command cannot start, timeout_error
//   (with the partial result) on timeout, std::system_error otherwise. A
//   command that ran and failed is not an exception: check status.
PIPEKIT_EXPORT run_result run(command cmd, std::string_view input = {}, deadline until = no_deadline,
                              std::chrono::milliseconds kill_after = std::chrono::seconds(5));
PIPEKIT_EXPORT run_result run(command cmd, std::string_view input, deadline until, std::chrono::milliseconds kill_after,
                              std::error_code& ec);

}  // namespace pipekit
