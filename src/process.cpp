// The portable half of processes: the command builder, waiting and
// terminating on top of the platform primitives in sys/spawn.hpp, and
// communicate(), which drives the pipes through a poller.
#include "pipekit/process.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>

#include "pipekit/error.hpp"
#include "sys/communicate.hpp"
#include "sys/process_tree.hpp"
#include "sys/spawn.hpp"

namespace pipekit {

// ---- stdio and command ------------------------------------------------------

stdio stdio::file(std::filesystem::path path, file_mode mode) {
  stdio s{kind::file};
  s.path_ = std::move(path);
  s.mode_ = mode;
  return s;
}

stdio stdio::from(native_handle_type h) {
  stdio s{kind::borrowed};
  s.handle_ = h;
  return s;
}

command::command(std::string program) { settings_.argv.push_back(std::move(program)); }
command::command(std::initializer_list<std::string> argv) { settings_.argv = argv; }
command::command(std::vector<std::string> argv) { settings_.argv = std::move(argv); }

command& command::arg(std::string a) {
  settings_.argv.push_back(std::move(a));
  return *this;
}
command& command::args(const std::vector<std::string>& more) {
  settings_.argv.insert(settings_.argv.end(), more.begin(), more.end());
  return *this;
}
command& command::env(std::string key, std::string value) {
  settings_.env.emplace_back(std::move(key), std::move(value));
  return *this;
}
command& command::env_remove(std::string key) {
  settings_.env.emplace_back(std::move(key), std::nullopt);
  return *this;
}
command& command::env_clear() {
  settings_.env_clear = true;
  settings_.env.clear();
  return *this;
}
command& command::cwd(std::filesystem::path dir) {
  settings_.cwd = std::move(dir);
  return *this;
}
command& command::set_stdin(stdio s) {
  settings_.in = std::move(s);
  return *this;
}
command& command::set_stdout(stdio s) {
  settings_.out = std::move(s);
  return *this;
}
command& command::set_stderr(stdio s) {
  settings_.err = std::move(s);
  return *this;
}
command& command::pass_handle(native_handle_type h, int child_fd) {
  settings_.passed_handles.emplace_back(h, child_fd);
  return *this;
}
command& command::keep_inherited_descriptors(bool on) {
  settings_.keep_inherited_descriptors = on;
  return *this;
}
command& command::group(process_group g) {
  settings_.group = g;
  return *this;
}
command& command::kill_on_parent_death(bool on) {
  settings_.kill_on_parent_death = on;
  return *this;
}
command& command::pty_size(terminal_size size) {
  settings_.pty_size = size;
  return *this;
}
command& command::foreground(bool on) {
  settings_.foreground = on;
  return *this;
}
command& command::when_destroyed(on_destroy action) {
  settings_.when_destroyed = action;
  return *this;
}

namespace {

// What the OS would silently get wrong: a NUL ends a C string early (the
// child would see a truncated argument), and an '=' in a name makes another
// variable than the one asked for.
bool validate(const command& cmd, spawn_failure& why) {
  const auto& argv = cmd.argv();
  if (argv.empty()) {
    why = {spawn_stage::validate, "empty command"};
    return false;
  }
  for (std::size_t i = 0; i < argv.size(); ++i)
    if (argv[i].find('\0') != std::string::npos) {
      why = {spawn_stage::validate, i == 0 ? std::string("the program name contains a NUL byte")
                                           : "argument " + std::to_string(i) + " contains a NUL byte"};
      return false;
    }
  for (const auto& [key, value] : cmd.settings().env) {
    if (key.empty()) {
      why = {spawn_stage::validate, "an environment variable name is empty"};
      return false;
    }
    if (key.find_first_of(std::string_view("=\0", 2)) != std::string::npos) {
      why = {spawn_stage::validate, "environment variable name '" + key.substr(0, key.find('\0')) + "' contains " +
                                        (key.find('=') != std::string::npos ? "'='" : "a NUL byte")};
      return false;
    }
    if (value && value->find('\0') != std::string::npos) {
      why = {spawn_stage::validate, "the value of environment variable '" + key + "' contains a NUL byte"};
      return false;
    }
  }
  using path_char = std::filesystem::path::value_type;
  if (cmd.settings().cwd &&
      cmd.settings().cwd->native().find(path_char{0}) != std::filesystem::path::string_type::npos) {
    why = {spawn_stage::validate, "the working directory contains a NUL byte"};
    return false;
  }
  return true;
}

std::string describe(const std::string& program, const spawn_failure& why) {
  std::string what = "cannot run '" + program + "'";
  // validate: what is wrong; exec: e.g. "interpreter '/usr/bin/foo' not found".
  if (why.stage == spawn_stage::validate || (why.stage == spawn_stage::exec && !why.detail.empty()))
    return what + ": " + why.detail;
  if (why.stage != spawn_stage::exec)
    what += std::string(" (") + to_string(why.stage) + (why.detail.empty() ? "" : " '" + why.detail + "'") + ")";
  return what;
}

}  // namespace

const char* to_string(spawn_stage s) noexcept {
  switch (s) {
    case spawn_stage::none: return "none";
    case spawn_stage::validate: return "validate";
    case spawn_stage::resources: return "resources";
    case spawn_stage::pipe: return "pipe";
    case spawn_stage::pty: return "pty";
    case spawn_stage::open: return "open";
    case spawn_stage::descriptors: return "descriptors";
    case spawn_stage::session: return "session";
    case spawn_stage::group: return "group";
    case spawn_stage::terminal: return "terminal";
    case spawn_stage::parent_death: return "parent_death";
    case spawn_stage::launch: return "launch";
    case spawn_stage::job: return "job";
    case spawn_stage::chdir: return "chdir";
    case spawn_stage::exec: return "exec";
  }
  return "unknown";
}

process command::spawn() const {
  std::error_code ec;
  spawn_failure why;
  process p = spawn(ec, why);
  if (ec) throw spawn_error(ec, argv().empty() ? std::string() : argv().front(), std::move(why));
  return p;
}

process command::spawn(std::error_code& ec) const {
  spawn_failure why;
  return spawn(ec, why);
}

process command::spawn(std::error_code& ec, spawn_failure& why) const {
  ec.clear();
  why = {};
  if (!validate(*this, why)) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  return detail::spawn_process(*this, ec, why);
}

spawn_error::spawn_error(std::error_code ec, std::string program, spawn_failure why)
    : std::system_error(ec, describe(program, why)), program_(std::move(program)), why_(std::move(why)) {}

timeout_error::timeout_error(run_result partial, const std::string& what)
    : std::system_error(make_error_code(errc::timed_out), what),
      result_(std::make_shared<const run_result>(std::move(partial))) {}

// ---- exit_status ------------------------------------------------------------

bool exit_status::crashed() const noexcept {
  if (kind_ == kind::not_started) return false;
  if (kind_ == kind::signaled) return core_dumped_ || detail::is_crash_signal(signal_);
  return detail::is_crash_code(code_);
}

namespace {

std::string hex_code(int code) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(code));
  return buf;
}

}  // namespace

std::string exit_status::to_string() const {
  if (kind_ == kind::not_started) return "not started";
  if (kind_ == kind::exited) {
    // Windows: a system status as the exit code says what happened.
    const std::string name = detail::exit_code_name(code_);
    if (crashed())
      return "crashed: " + (name.empty() ? "NTSTATUS " + hex_code(code_) : name + " (" + hex_code(code_) + ")");
    if (!name.empty()) return "exited with code " + hex_code(code_) + " (" + name + ")";
    return "exited with code " + std::to_string(code_);
  }
  std::string s = (crashed() ? "crashed: signal " : "killed by signal ") + std::to_string(signal_);
  const std::string name = detail::signal_name(signal_);
  if (!name.empty()) s += " (" + name + ")";
  if (core_dumped_) s += ", core dumped";
  return s;
}

// ---- process lifecycle ------------------------------------------------------

process::process(process&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      pgid_(std::exchange(other.pgid_, 0)),
      proc_handle_(std::move(other.proc_handle_)),
      group_handle_(std::move(other.group_handle_)),
      in_(std::move(other.in_)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)),
      pty_(std::move(other.pty_)),
      foreground_tty_(std::move(other.foreground_tty_)),
      status_(std::exchange(other.status_, std::nullopt)),
      on_destroy_(other.on_destroy_) {}

process& process::operator=(process&& other) noexcept {
  if (this != &other) {
    destroy();
    pid_ = std::exchange(other.pid_, 0);
    pgid_ = std::exchange(other.pgid_, 0);
    proc_handle_ = std::move(other.proc_handle_);
    group_handle_ = std::move(other.group_handle_);
    in_ = std::move(other.in_);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
    pty_ = std::move(other.pty_);
    foreground_tty_ = std::move(other.foreground_tty_);
    status_ = std::exchange(other.status_, std::nullopt);
    on_destroy_ = other.on_destroy_;
  }
  return *this;
}

process::~process() { destroy(); }

void process::destroy() noexcept {
  std::error_code ignored;
  // Our pipe ends go first, so a child blocked on them sees EOF or EPIPE.
  in_.close(ignored);
  out_.close(ignored);
  err_.close(ignored);
  pty_.close(ignored);
  if (pid_ > 0 && !status_ && on_destroy_ == on_destroy::kill) {
    if (!detail::reap(ids(), false, ignored)) {
      // Kill before reaping: while unreaped, the pid (and group id) cannot be reused.
      detail::process_tree tree;
      tree.freeze_descendants_of(pid_, true);
      detail::send_signal_to_group(ids(), detail::kill_signal(), ignored);
      tree.signal(detail::kill_signal());
      detail::reap(ids(), true, ignored);
    }
  }
  reaped();
  proc_handle_.close(ignored);
  group_handle_.close(ignored);
  pid_ = 0;
  pgid_ = 0;
}

detail::process_ids process::ids() const noexcept {
  return detail::process_ids{pid_, pgid_, proc_handle_.native_handle(), group_handle_.native_handle()};
}

void process::reaped() noexcept {
  if (foreground_tty_) {
    detail::reclaim_terminal(foreground_tty_.native_handle());
    std::error_code ignored;
    foreground_tty_.close(ignored);
  }
}

void process::resize_terminal(terminal_size size) {
  std::error_code ec;
  resize_terminal(size, ec);
  detail::throw_if(ec, "resize_terminal");
}

void process::resize_terminal(terminal_size size, std::error_code& ec) noexcept {
  ec.clear();
  if (!pty_.is_open()) {
    ec = make_error_code(errc::invalid_argument);
    return;
  }
  detail::resize_pty(pty_.native_handle(), size, ec);
}

void process::detach() noexcept {
  std::error_code ignored;
  foreground_tty_.close(ignored);
  proc_handle_.close(ignored);
  group_handle_.close(ignored);
  pid_ = 0;
  pgid_ = 0;
}

exit_status process::wait() {
  std::error_code ec;
  const exit_status s = wait(ec);
  detail::throw_if(ec, "wait");
  return s;
}

exit_status process::wait(std::error_code& ec) noexcept {
  const auto s = wait_until(no_deadline, ec);
  return s.value_or(exit_status{});
}

std::optional<exit_status> process::wait_until(deadline until) {
  std::error_code ec;
  auto s = wait_until(until, ec);
  detail::throw_if(ec, "wait");
  return s;
}

std::optional<exit_status> process::wait_until(deadline until, std::error_code& ec) noexcept {
  ec.clear();
  if (status_) return status_;
  if (pid_ <= 0) {
    ec = make_error_code(errc::process_not_running);
    return std::nullopt;
  }
  if (!detail::wait_exited(ids(), until, ec)) return std::nullopt;
  status_ = detail::reap(ids(), true, ec);
  if (status_) reaped();
  return status_;
}

std::optional<exit_status> process::try_wait() {
  std::error_code ec;
  auto s = try_wait(ec);
  detail::throw_if(ec, "wait");
  return s;
}

std::optional<exit_status> process::try_wait(std::error_code& ec) noexcept {
  ec.clear();
  if (status_) return status_;
  if (pid_ <= 0) {
    ec = make_error_code(errc::process_not_running);
    return std::nullopt;
  }
  status_ = detail::reap(ids(), false, ec);
  if (status_) reaped();
  return status_;
}

void process::send_signal(int sig) {
  std::error_code ec;
  send_signal(sig, ec);
  detail::throw_if(ec, "kill");
}

void process::send_signal(int sig, std::error_code& ec) noexcept {
  ec.clear();
  // Once reaped, the pid may belong to someone else.
  if (status_ || pid_ <= 0) {
    ec = make_error_code(errc::process_not_running);
    return;
  }
  detail::send_signal_to(ids(), sig, ec);
}

void process::signal_group(int sig) {
  std::error_code ec;
  signal_group(sig, ec);
  detail::throw_if(ec, "kill");
}

void process::signal_group(int sig, std::error_code& ec) noexcept {
  ec.clear();
  if (status_ || pid_ <= 0) {
    ec = make_error_code(errc::process_not_running);
    return;
  }
  detail::send_signal_to_group(ids(), sig, ec);
}

exit_status process::terminate(std::chrono::milliseconds grace) {
  std::error_code ec;
  const exit_status s = terminate(grace, ec);
  detail::throw_if(ec, "terminate");
  return s;
}

exit_status process::terminate(std::chrono::milliseconds grace, std::error_code& ec) noexcept {
  return terminate(terminate_options{.signal = 0, .grace = grace, .descendants = true}, ec).status;
}

terminate_result process::terminate(const terminate_options& options) {
  std::error_code ec;
  const terminate_result r = terminate(options, ec);
  detail::throw_if(ec, "terminate");
  return r;
}

terminate_result process::terminate(const terminate_options& options, std::error_code& ec) noexcept {
  ec.clear();
  if (status_) return {*status_, false};
  if (pid_ <= 0) {
    ec = make_error_code(errc::process_not_running);
    return {exit_status{}, false};
  }
  const int sig = options.signal != 0 ? options.signal : detail::terminate_signal();
  // Descendants that left the group (setsid(), setpgid()) are found and
  // stopped first, while the child is alive to be their ancestor (see
  // sys/process_tree.hpp); then all of them get what the group gets.
  detail::process_tree tree;
  if (options.descendants) tree.freeze_descendants_of(pid_, true);
  std::error_code sent;
  signal_group(sig, sent);
  // ESRCH: already gone, which is what we want. A signal that cannot be
  // sent at all is the caller's mistake.
  if (sent == std::errc::invalid_argument || sent == errc::not_supported) {
    ec = sent;
    std::error_code ignored_cont;
    if (const int cont = detail::continue_signal(); cont != 0 && options.descendants) {  // undo the freeze
      detail::send_signal_to(ids(), cont, ignored_cont);
      tree.signal(cont);
    }
    return {exit_status{}, false};
  }
  tree.signal(sig);
  std::error_code ignored;
  // A stopped member (Ctrl-Z, SIGTTIN in the background, or the freeze
  // above) cannot act on the signal until continued; timeout(1) does the
  // same.
  if (const int cont = detail::continue_signal(); cont != 0 && sig != detail::kill_signal()) {
    signal_group(cont, ignored);
    tree.signal(cont);
  }
  const bool exited = detail::wait_exited(ids(), after(options.grace), ec);
  if (ec) return {exit_status{}, false};
  // Whether or not the leader obeyed, sweep the group while the leader is
  // still unreaped (its id cannot be reused yet): members that ignored
  // the signal would otherwise keep our pipes open. Members of the tree
  // may have forked while they ran: walk again.
  if (options.descendants) tree.freeze_descendants_of(pid_, !exited);
  if (pgid_ > 0 || !exited) detail::send_signal_to_group(ids(), detail::kill_signal(), ignored);
  tree.signal(detail::kill_signal());
  status_ = detail::reap(ids(), true, ec);
  if (status_) reaped();
  return {status_.value_or(exit_status{}), !exited};
}

void become_subreaper() {
  std::error_code ec;
  become_subreaper(ec);
  detail::throw_if(ec, "become_subreaper");
}
void become_subreaper(std::error_code& ec) noexcept {
  ec.clear();
  detail::become_subreaper(ec);
}
std::size_t kill_own_descendants() {
  std::error_code ec;
  const std::size_t n = kill_own_descendants(ec);
  detail::throw_if(ec, "kill_own_descendants");
  return n;
}
std::size_t kill_own_descendants(std::error_code& ec) noexcept {
  ec.clear();
  return detail::kill_own_descendants(ec);
}

// ---- communicate ------------------------------------------------------------

communicate_result process::communicate(std::string_view input, deadline until) {
  communicate_options o;
  o.input = input;
  o.until = until;
  return communicate(o);
}

communicate_result process::communicate(const communicate_options& options) {
  std::error_code ec;
  communicate_result r = communicate(options, ec);
  detail::throw_if(ec, "communicate");
  return r;
}

communicate_result process::communicate(const communicate_options& options, std::error_code& ec) {
  communicate_result result;
  communicate(options, result, ec);
  return result;
}

void process::communicate(const communicate_options& options, communicate_result& result) {
  std::error_code ec;
  communicate(options, result, ec);
  detail::throw_if(ec, "communicate");
}

void process::communicate(const communicate_options& options, communicate_result& result, std::error_code& ec) {
  ec.clear();
  result.out.clear();
  result.err.clear();
  result.input_written = 0;
  // Input with nowhere to go would be dropped without a word.
  if (!options.input.empty() && !in_.is_open()) {
    ec = make_error_code(errc::invalid_argument);
    return;
  }
  detail::communicate_streams(in_, out_, err_, options, result, ec);
}

// ---- run --------------------------------------------------------------------

run_result run(command cmd, std::string_view input, deadline until, std::chrono::milliseconds kill_after) {
  const std::string program = cmd.argv().empty() ? std::string() : cmd.argv().front();
  std::error_code ec;
  run_result r = run(std::move(cmd), input, until, kill_after, ec);
  if (!ec) return r;
  if (r.failure.stage != spawn_stage::none) throw spawn_error(ec, program, r.failure);
  if (ec == errc::timed_out) throw timeout_error(std::move(r), "run '" + program + "': timed out");
  detail::throw_if(ec, "run '" + program + "'");
  return r;
}

run_result run(command cmd, std::string_view input, deadline until, std::chrono::milliseconds kill_after,
               std::error_code& ec) {
  ec.clear();
  if (cmd.settings().in.type() == stdio::kind::inherit) cmd.set_stdin(stdio::pipe());
  if (cmd.settings().out.type() == stdio::kind::inherit) cmd.set_stdout(stdio::pipe());
  if (cmd.settings().err.type() == stdio::kind::inherit) cmd.set_stderr(stdio::pipe());
  run_result r;
  process p = cmd.spawn(ec, r.failure);
  if (ec) return r;
  communicate_options o;
  o.input = input;
  o.until = until;
  communicate_result c = p.communicate(o, ec);
  r.out = std::move(c.out);
  r.err = std::move(c.err);
  std::error_code wec;
  if (!ec) {
    if (auto s = p.wait_until(until, wec)) {
      r.status = *s;
      ec = wec;
      return r;
    }
    if (!wec) ec = make_error_code(errc::timed_out);
  }
  std::error_code tec;
  r.status = p.terminate(kill_after, tec);
  if (!ec) ec = tec;
  return r;
}

}  // namespace pipekit
