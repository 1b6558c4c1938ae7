// pipekit::process on POSIX only: signals and the exit statuses they make,
// descriptors, pseudo-terminals, process groups and sessions, shebang lines,
// the subreaper. The cases both systems share are in test_process.cpp.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using namespace pipekit_test;

TEST(process, non_executable_file_is_permission_denied) {
  char path[] = "/tmp/pipekit-noexec-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::error_code ec;
  auto p = pipekit::command{path}.spawn(ec);
  EXPECT_TRUE(ec == std::errc::permission_denied) << ec.message();
  ::unlink(path);
}

// An executable file of `content` in `dir`.
std::string write_script(const pipekit_test::temp_dir& dir, const char* name, const std::string& content) {
  const std::string path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST(process, an_executable_file_without_a_shebang_line_runs_with_bin_sh_as_execvp_does) {
  pipekit_test::temp_dir dir;
  const std::string script = write_script(dir, "no-shebang", "echo \"args: $1 $2\"\nexit 5\n");
  const auto r = pipekit::run(pipekit::command{script, "one", "two words"});
  EXPECT_EQ(r.status.code(), 5) << r.status.to_string() << " " << r.err;
  EXPECT_EQ(r.out, "args: one two words\n");
  // The same when found on PATH, and with a relative path in another working directory.
  pipekit::command on_path{"no-shebang", "x"};
  on_path.env("PATH", dir.path().string());
  EXPECT_EQ(pipekit::run(on_path).out, "args: x \n");
  pipekit::command relative{"./no-shebang", "y"};
  relative.cwd(dir.path());
  EXPECT_EQ(pipekit::run(relative).out, "args: y \n");
}

TEST(process, a_missing_shebang_interpreter_is_named_as_missing_not_the_script) {
  pipekit_test::temp_dir dir;
  const std::string script = write_script(dir, "bad-interpreter", "#!/nonexistent-pipekit/interp -x\necho hi\n");
  try {
    (void)pipekit::command{script}.spawn();
    FAIL() << "spawn succeeded";
  } catch (const pipekit::spawn_error& e) {
    EXPECT_TRUE(e.code() == std::errc::no_such_file_or_directory) << e.code().message();
    const std::string what = e.what();
    EXPECT_NE(what.find("interpreter '/nonexistent-pipekit/interp' not found"), std::string::npos) << what;
    EXPECT_NE(what.find(script), std::string::npos) << what;
  }
  // A script that is missing itself is still just missing.
  try {
    (void)pipekit::command{dir / "missing"}.spawn();
    FAIL() << "spawn succeeded";
  } catch (const pipekit::spawn_error& e) {
    EXPECT_EQ(std::string(e.what()).find("interpreter"), std::string::npos) << e.what();
  }
}

TEST(process, two_thousand_spawns_leak_no_descriptor_and_leave_no_zombie) {
  const int before = open_fd_count();
  for (int i = 0; i < 2000; ++i) {
    // The system shell, not the test child: what is measured is the parent's
    // hygiene, and an instrumented child (ASan start-up ~50 ms) would make
    // 2,000 of them outlast the test's deadline.
    pipekit::command cmd("/bin/sh");
    cmd.args({"-c", "exit 3"});
    cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
    auto p = cmd.spawn();
    (void)p.communicate();
    ASSERT_EQ(p.wait().code(), 3);
  }
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_EQ(zombie_children(), 0);
}

TEST(process, child_sees_only_its_standard_streams_and_passed_handles) {
  auto [r, w] = pipekit::make_pipe();  // open in the parent, not passed
  auto cmd = child({"count-fds"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  EXPECT_EQ(p.out().read_to_end(), "3\n");
  p.wait();

  auto cmd2 = child({"count-fds"});
  cmd2.set_stdout(pipekit::stdio::pipe()).pass_handle(r.native_handle(), 7);
  auto p2 = cmd2.spawn();
  EXPECT_EQ(p2.out().read_to_end(), "4\n");
  p2.wait();
}

TEST(process, passed_handle_arrives_under_the_requested_number) {
  auto [r, w] = pipekit::make_pipe();
  // The child writes to descriptor 5 with `spew BYTES FD`.
  auto cmd = child({"spew", "1000", "5"});
  cmd.pass_handle(w.native_handle(), 5);
  auto p = cmd.spawn();
  EXPECT_TRUE(p.wait().success());
  w.close();
  EXPECT_EQ(r.read_to_end(), pattern(1000));
}

TEST(process, killed_child_reports_the_signal_not_an_exit_code) {
  auto p = child({"sleep", "60000"}).spawn();
  p.send_signal(SIGKILL);
  const auto s = p.wait();
  EXPECT_TRUE(s.was_signaled());
  EXPECT_EQ(s.signal(), SIGKILL);
  EXPECT_FALSE(s.code().has_value());
  EXPECT_EQ(s.shell_code(), 137);
  EXPECT_EQ(s.to_string(), "killed by signal 9 (SIGKILL)");
}

TEST(process, self_signalled_child_and_core_dump_flag) {
  auto s = child({"signal", std::to_string(SIGTERM)}).spawn().wait();
  EXPECT_EQ(s.signal(), SIGTERM);
  EXPECT_FALSE(s.core_dumped());
  auto e = child({"exit", "42"}).spawn().wait();
  EXPECT_EQ(e.code(), 42);
  EXPECT_FALSE(e.success());
  EXPECT_EQ(e.to_string(), "exited with code 42");
}

TEST(process, a_child_killed_by_sigsegv_crashed_and_says_so) {
  const auto s = child({"crash"}).spawn().wait();
  EXPECT_EQ(s.signal(), SIGSEGV);
  EXPECT_TRUE(s.crashed());
  const std::string text = s.to_string();
  EXPECT_EQ(text.rfind("crashed: signal " + std::to_string(SIGSEGV), 0), 0u) << text;
#if defined(__GLIBC__)
  EXPECT_NE(text.find("(SIGSEGV)"), std::string::npos) << text;  // names come from sigabbrev_np
#endif
}

TEST(process, exits_and_requested_ends_are_not_crashes) {
  const auto exited = child({"exit", "1"}).spawn().wait();
  EXPECT_FALSE(exited.crashed());
  const auto term = child({"signal", std::to_string(SIGTERM)}).spawn().wait();
  EXPECT_EQ(term.signal(), SIGTERM);
  EXPECT_FALSE(term.crashed());
  EXPECT_EQ(term.to_string().rfind("killed by signal " + std::to_string(SIGTERM), 0), 0u) << term.to_string();
  auto p = child({"sleep", "60000"}).spawn();
  p.send_signal(SIGKILL);
  EXPECT_FALSE(p.wait().crashed());
}

TEST(process, crash_rule_covers_fault_signals_and_any_core_dump) {
  for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP})
    EXPECT_TRUE(pipekit::exit_status::signaled(sig, false).crashed()) << sig;
  for (const int sig : {SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGPIPE, SIGQUIT})
    EXPECT_FALSE(pipekit::exit_status::signaled(sig, false).crashed()) << sig;
  // SIGQUIT is sent by a user, but a core dump means something went wrong.
  const auto quit = pipekit::exit_status::signaled(SIGQUIT, true);
  EXPECT_TRUE(quit.crashed());
  const std::string text = quit.to_string();
  EXPECT_EQ(text.rfind("crashed: signal " + std::to_string(SIGQUIT), 0), 0u) << text;
  EXPECT_NE(text.find(", core dumped"), std::string::npos) << text;
  // Exit codes are never crashes on POSIX, whatever their value.
  EXPECT_FALSE(pipekit::exit_status::exited(255).crashed());
  EXPECT_FALSE(pipekit::exit_status::exited(0).crashed());
}

TEST(process, terminate_escalates_to_sigkill_after_the_grace_period) {
  auto cmd = child({"ignore-term", "60000"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  std::this_thread::sleep_for(100ms);  // let it install SIG_IGN
  const auto start = pipekit::clock::now();
  const auto s = p.terminate(200ms);
  EXPECT_EQ(s.signal(), SIGKILL);
  EXPECT_GE(pipekit::clock::now() - start, 200ms);
}

TEST(process, terminate_with_a_signal_sends_that_one_and_says_no_sigkill_was_needed) {
  auto p = child({"sleep", "60000"}).spawn();
  const pipekit::terminate_result r = p.terminate(pipekit::terminate_options{.signal = SIGINT, .grace = 10s});
  EXPECT_EQ(r.status.signal(), SIGINT) << r.status.to_string();
  EXPECT_FALSE(r.killed);
  EXPECT_EQ(p.status(), r.status);
}

TEST(process, terminate_says_when_sigkill_had_to_end_the_process) {
  auto cmd = child({"ignore-term-ready", "60000"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  std::string ready;
  std::byte b[16];
  while (ready.find('\n') == std::string::npos) {  // SIGTERM is ignored from here on
    std::error_code ec;
    const std::size_t n = p.out().read_some(b, pipekit::after(10s), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(n, 0u);
    ready.append(reinterpret_cast<const char*>(b), n);
  }
  const pipekit::terminate_result r = p.terminate(pipekit::terminate_options{.grace = 100ms});
  EXPECT_EQ(r.status.signal(), SIGKILL) << r.status.to_string();
  EXPECT_TRUE(r.killed);
}

TEST(process, terminate_with_a_signal_that_does_not_exist_is_an_error_and_sends_nothing) {
  auto p = child({"sleep", "60000"}).spawn();
  std::error_code ec;
  (void)p.terminate(pipekit::terminate_options{.signal = 100000, .grace = 0ms}, ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument) << ec.message();
  EXPECT_FALSE(p.try_wait().has_value()) << "the process was ended all the same";
  {
    // Nor left stopped by the search for its descendants.
    std::ifstream stat("/proc/" + std::to_string(p.pid()) + "/stat");
    std::string line;
    std::getline(stat, line);
    EXPECT_NE(line.substr(line.rfind(')') + 2, 1), "T") << line;
  }
  EXPECT_EQ(p.terminate(2s).signal(), SIGTERM);
}

TEST(process, pty_gives_the_child_a_controlling_terminal) {
  auto cmd = child({"tty"});
  cmd.set_stdin(pipekit::stdio::pty()).set_stdout(pipekit::stdio::pty()).set_stderr(pipekit::stdio::pty());
  auto p = cmd.spawn();
  ASSERT_TRUE(p.terminal().is_open());
  std::string out;
  std::byte b[256];
  for (;;) {
    std::error_code ec;
    const std::size_t n = p.terminal().read_some(b, pipekit::after(5s), ec);
    if (ec || n == 0) break;  // EIO once the child side is closed
    out.append(reinterpret_cast<const char*>(b), n);
  }
  EXPECT_TRUE(p.wait().success());
  EXPECT_EQ(out, "tty\r\n");  // the terminal's output processing adds \r
}

TEST(process, without_pty_the_child_has_no_terminal_on_stdin) {
  auto cmd = child({"tty"});
  cmd.set_stdin(pipekit::stdio::null());
  EXPECT_EQ(pipekit::run(cmd).out, "notty\n");
}

TEST(process, kill_on_parent_death_kills_the_child_when_the_spawning_thread_ends) {
  pid_t pid = 0;
  std::thread spawner([&] {
    auto cmd = child({"sleep", "60000"});
    cmd.kill_on_parent_death().when_destroyed(pipekit::on_destroy::detach);
    auto p = cmd.spawn();
    pid = p.pid();
    p.detach();
  });
  spawner.join();
  // Linux delivers the parent-death signal when the spawning thread exits.
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(process, destroying_a_running_process_kills_and_reaps_it) {
  pid_t pid = 0;
  {
    auto p = child({"sleep", "60000"}).spawn();
    pid = p.pid();
  }
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(process, child_gets_default_sigpipe_even_when_the_parent_ignores_it) {
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  // `spew` into a pipe whose reader is gone dies of SIGPIPE with the default disposition.
  auto cmd = child({"spew", "10000000"});
  cmd.set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  p.out().close();
  const auto s = p.wait();
  ::sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(s.signal(), SIGPIPE);
}

TEST(process, terminate_continues_a_stopped_group_so_sigterm_acts_at_once) {
  auto p = child({"sleep", "60000"}).spawn();
  p.signal_group(SIGSTOP);
  // Without SIGCONT the stopped child could not act on SIGTERM and would
  // die of SIGKILL after the grace period instead.
  const auto s = p.terminate(30s);
  EXPECT_EQ(s.signal(), SIGTERM);
}

TEST(process, resize_terminal_sets_the_window_size_of_the_pty) {
  auto cmd = child({"sleep", "60000"});
  cmd.set_stdin(pipekit::stdio::pty()).pty_size({30, 100});
  auto p = cmd.spawn();
  struct winsize ws {};
  ASSERT_EQ(::ioctl(p.terminal().native_handle(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 30);
  EXPECT_EQ(ws.ws_col, 100);
  p.resize_terminal({50, 132});
  ASSERT_EQ(::ioctl(p.terminal().native_handle(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 50);
  EXPECT_EQ(ws.ws_col, 132);
  p.terminate(1s);
  auto no_pty = child({"exit", "0"}).spawn();
  std::error_code ec;
  no_pty.resize_terminal({1, 1}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
}

TEST(process, keep_inherited_descriptors_passes_descriptors_that_are_not_close_on_exec) {
  // A pipe whose read end is inheritable, as a shell's `4<in` would be.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // no O_CLOEXEC on purpose
  pipekit::handle read_end{fds[0]};
  {
    pipekit::handle write_end{fds[1]};
    ASSERT_EQ(::write(write_end.native_handle(), "through", 7), 7);
  }
  const std::string fd = std::to_string(read_end.native_handle());
  // By default the child gets only its standard streams.
  const auto closed = pipekit::run(child({"read-fd", fd}));
  EXPECT_EQ(closed.status.code(), 3) << closed.status.to_string();
  EXPECT_NE(closed.err.find("Bad file descriptor"), std::string::npos) << closed.err;
  auto cmd = child({"read-fd", fd});
  cmd.keep_inherited_descriptors();
  const auto kept = pipekit::run(cmd);
  EXPECT_TRUE(kept.status.success()) << kept.status.to_string() << kept.err;
  EXPECT_EQ(kept.out, "through");
}

TEST(process, keep_inherited_descriptors_still_leaks_none_of_pipekits_own) {
  auto cmd = child({"count-fds"});
  cmd.set_stdin(pipekit::stdio::pipe()).keep_inherited_descriptors();
  auto plain = child({"count-fds"});
  plain.set_stdin(pipekit::stdio::pipe());
  // Our pipes, the poller communicate() uses, ...: all close-on-exec.
  const auto with = pipekit::run(cmd);
  const auto without = pipekit::run(plain);
  int inherited = 0;  // what the test process itself holds without close-on-exec
  for (int fd = 3; fd < 1024; ++fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0) ++inherited;
  }
  EXPECT_EQ(std::stoi(with.out), std::stoi(without.out) + inherited) << with.out << " vs " << without.out;
}

// The first line the child writes: the pid spawn-escapee prints.
int first_line_pid(pipekit::process& p) {
  std::string line;
  std::byte b[64];
  while (line.find('\n') == std::string::npos) {
    const std::size_t n = p.out().read_some(b);
    if (n == 0) return -1;
    line.append(reinterpret_cast<const char*>(b), n);
  }
  return std::stoi(line);
}

TEST(process, terminate_kills_a_descendant_that_left_the_group_with_setsid_or_setpgid) {
  for (const char* how : {"session", "group"}) {
    auto cmd = child({"spawn-escapee", how});
    cmd.set_stdout(pipekit::stdio::pipe());
    auto p = cmd.spawn();
    const int escapee = first_line_pid(p);
    ASSERT_GT(escapee, 0) << how;
    EXPECT_NE(::getpgid(escapee), p.group_id()) << how;  // it did leave
    (void)p.terminate(2s);
    EXPECT_TRUE(process_gone(escapee, 2s)) << how << ": the escapee survived terminate()";
    std::error_code ec;
    (void)p.out().read_to_end(pipekit::after(5s), ec);  // and no longer holds our pipe
    EXPECT_FALSE(ec) << how << ": " << ec.message();
  }
}

TEST(process, run_timeout_and_destruction_reach_an_escaped_descendant) {
  std::error_code ec;
  auto r = pipekit::run(child({"spawn-escapee", "session"}), "", pipekit::after(300ms), 1s, ec);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  ASSERT_FALSE(r.out.empty());
  EXPECT_TRUE(process_gone(std::stoi(r.out), 2s));
  int escapee = -1;
  {
    auto cmd = child({"spawn-escapee", "group"});
    cmd.set_stdout(pipekit::stdio::pipe());
    auto p = cmd.spawn();
    escapee = first_line_pid(p);
    ASSERT_GT(escapee, 0);
  }  // on_destroy::kill
  EXPECT_TRUE(process_gone(escapee, 2s));
}

TEST(process, an_orphaned_daemon_is_out_of_terminates_reach_but_not_of_a_subreapers) {
  // What terminate() cannot do, documented in process.hpp, and what
  // become_subreaper() + kill_own_descendants() add. In a child process:
  // the subreaper setting is process-wide and permanent.
  const pid_t tester = ::fork();
  ASSERT_GE(tester, 0);
  if (tester == 0) {
    int result = 0;
    {
      auto cmd = child({"spawn-escapee", "daemon"});
      cmd.set_stdout(pipekit::stdio::pipe());
      auto p = cmd.spawn();
      const int orphan = first_line_pid(p);
      (void)p.terminate(1s);
      if (orphan <= 0 || process_gone(orphan, 300ms)) result |= 1;  // expected to survive
      ::kill(orphan, SIGKILL);
    }
    pipekit::become_subreaper();
    {
      auto cmd = child({"spawn-escapee", "daemon"});
      cmd.set_stdout(pipekit::stdio::pipe());
      auto p = cmd.spawn();
      const int orphan = first_line_pid(p);
      (void)p.terminate(1s);
      if (orphan <= 0 || ::getpgid(orphan) < 0) result |= 2;  // alive, and now our child
      if (pipekit::kill_own_descendants() < 1) result |= 4;
      if (!process_gone(orphan, 2s)) result |= 8;
      if (zombie_children() != 0) result |= 16;
    }
    ::_exit(result);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(tester, &status, 0), tester);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 1 terminate() reached the orphan (update the docs), 2 orphan not "
                                       "adopted, 4 nothing killed, 8 orphan survived, 16 zombies left";
}

}  // namespace
