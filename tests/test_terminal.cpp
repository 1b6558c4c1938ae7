#include <gtest/gtest.h>

#include <cerrno>
#include <system_error>

#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"
#include "pipekit/terminal.hpp"

#if !defined(_WIN32)
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#endif

namespace {

// ---- what every system has: a pipe is no terminal ---------------------------

TEST(terminal, a_pipe_is_not_a_terminal) {
  pipekit::pipe_pair p = pipekit::make_pipe();
  EXPECT_FALSE(pipekit::is_terminal(p.read_end.native_handle()));
  EXPECT_FALSE(pipekit::is_terminal(p.write_end.native_handle()));
}

TEST(terminal, window_size_of_a_pipe_is_an_error) {
  pipekit::pipe_pair p = pipekit::make_pipe();
  std::error_code ec;
  (void)pipekit::window_size(p.write_end.native_handle(), ec);
  EXPECT_TRUE(ec);
  EXPECT_THROW((void)pipekit::window_size(p.write_end.native_handle()), std::system_error);
}

TEST(terminal, raw_mode_on_a_pipe_fails_and_changes_nothing) {
  pipekit::pipe_pair p = pipekit::make_pipe();
  std::error_code ec;
  pipekit::terminal_mode m(p.read_end.native_handle(), pipekit::terminal_setting::raw, ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(m.active());
  EXPECT_THROW(pipekit::terminal_mode(p.read_end.native_handle(), pipekit::terminal_setting::raw), std::system_error);
}

TEST(terminal, a_default_lease_lends_nothing) {
  pipekit::terminal_lease lease;
  EXPECT_FALSE(lease.possible());
  pipekit::process none;
  std::error_code ec;
  lease.give_to(none, ec);
  EXPECT_FALSE(ec);
  EXPECT_FALSE(lease.lent());
}

#if !defined(_WIN32)

const std::string child_path = PIPEKIT_CHILD_PATH;

// A pseudo-terminal pair, closed at the end of the test.
struct pty_pair {
  int master = -1;
  int slave = -1;
  pty_pair() {
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) ADD_FAILURE() << "openpty failed";
  }
  pty_pair(const pty_pair&) = delete;
  pty_pair& operator=(const pty_pair&) = delete;
  ~pty_pair() {
    if (master >= 0) ::close(master);
    if (slave >= 0) ::close(slave);
  }
};

termios modes_of(int fd) {
  termios t{};
  EXPECT_EQ(::tcgetattr(fd, &t), 0);
  return t;
}

// Whether `fd` has data within a short wait.
bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  int r = 0;
  while ((r = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    // the signal under test may interrupt the wait for its own byte
  }
  return r == 1 && (p.revents & POLLIN) != 0;
}

TEST(terminal, a_pty_is_a_terminal) {
  pty_pair t;
  EXPECT_TRUE(pipekit::is_terminal(t.slave));
  EXPECT_TRUE(pipekit::is_terminal(t.master));
}

TEST(terminal, window_size_is_what_the_terminal_was_given) {
  pty_pair t;
  winsize ws{};
  ws.ws_row = 33;
  ws.ws_col = 101;
  ASSERT_EQ(::ioctl(t.master, TIOCSWINSZ, &ws), 0);
  const pipekit::terminal_size s = pipekit::window_size(t.slave);
  EXPECT_EQ(s.rows, 33);
  EXPECT_EQ(s.columns, 101);
}

TEST(terminal, window_size_of_a_pipe_says_not_a_terminal) {
  pipekit::pipe_pair p = pipekit::make_pipe();
  std::error_code ec;
  (void)pipekit::window_size(p.write_end.native_handle(), ec);
  EXPECT_EQ(ec, std::errc::inappropriate_io_control_operation);
}

TEST(terminal, raw_mode_passes_keys_at_once_and_restores_line_mode) {
  pty_pair t;
  const termios before = modes_of(t.slave);
  ASSERT_NE(before.c_lflag & ICANON, 0u);
  {
    pipekit::terminal_mode raw(t.slave, pipekit::terminal_setting::raw);
    EXPECT_TRUE(raw.active());
    const termios now = modes_of(t.slave);
    EXPECT_EQ(now.c_lflag & (ICANON | ECHO | ISIG), 0u);
    // No line to wait for: two bytes without a newline reach the reader.
    ASSERT_EQ(::write(t.master, "ab", 2), 2);
    ASSERT_TRUE(readable(t.slave, 5000));
    char buf[8] = {};
    EXPECT_EQ(::read(t.slave, buf, sizeof buf), 2);
    EXPECT_EQ(std::string(buf, 2), "ab");
  }
  const termios after = modes_of(t.slave);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
  // Line mode again: a partial line stays in the terminal.
  ASSERT_EQ(::write(t.master, "cd", 2), 2);
  EXPECT_FALSE(readable(t.slave, 100));
}

TEST(terminal, a_moved_mode_restores_once_from_its_new_owner) {
  pty_pair t;
  const termios before = modes_of(t.slave);
  pipekit::terminal_mode outer;
  {
    pipekit::terminal_mode raw(t.slave, pipekit::terminal_setting::raw);
    outer = std::move(raw);
    EXPECT_FALSE(raw.active());  // NOLINT(bugprone-use-after-move): moved-from is inactive by contract
  }
  EXPECT_EQ(modes_of(t.slave).c_lflag & ICANON, 0u);  // still raw: the moved-from one restored nothing
  outer.restore();
  EXPECT_FALSE(outer.active());
  EXPECT_EQ(modes_of(t.slave).c_lflag, before.c_lflag);
}

TEST(terminal, vt_output_changes_nothing_on_a_posix_terminal) {
  pty_pair t;
  const termios before = modes_of(t.slave);
  std::error_code ec;
  pipekit::terminal_mode vt(t.slave, pipekit::terminal_setting::vt_output, ec);
  EXPECT_FALSE(ec);
  EXPECT_FALSE(vt.active());
  EXPECT_EQ(modes_of(t.slave).c_lflag, before.c_lflag);
}

TEST(terminal, a_lease_is_not_possible_on_a_terminal_we_do_not_control) {
  pty_pair t;  // not our controlling terminal: it has no foreground group of ours
  pipekit::terminal_lease lease(t.slave);
  EXPECT_FALSE(lease.possible());
}

// The lease is about this process's controlling terminal, so it runs in a
// forked child that makes the pty its controlling terminal (a new session);
// the exit code says which check failed (0: all held).
int lease_in_a_session_of_its_own(int slave) {
  if (::setsid() < 0 || ::ioctl(slave, TIOCSCTTY, 0) != 0) return 10;
  if (::tcgetpgrp(slave) != ::getpgrp()) return 11;
  sigset_t mask;
  {
    pipekit::terminal_lease lease(slave);
    if (!lease.possible()) return 12;
    ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    if (sigismember(&mask, SIGTTOU) != 1) return 13;  // blocked while the lease may lend
    pipekit::command cmd{child_path, "sleep", "60000"};
    pipekit::process p = cmd.spawn();
    std::error_code ec;
    lease.give_to(p, ec);
    if (ec || !lease.lent()) return 14;
    if (::tcgetpgrp(slave) != p.group_id()) return 15;
    // The child changes the modes (raw); a restoring take_back undoes that.
    termios modes{};
    ::tcgetattr(slave, &modes);
    termios raw = modes;
    ::cfmakeraw(&raw);
    ::tcsetattr(slave, TCSANOW, &raw);
    lease.take_back(pipekit::terminal_modes::restore);
    if (lease.lent()) return 16;
    if (::tcgetpgrp(slave) != ::getpgrp()) return 17;
    termios back{};
    ::tcgetattr(slave, &back);
    if (back.c_lflag != modes.c_lflag) return 18;
    // Lent again, then given back by the destructor, with the modes kept.
    lease.give_to(p, ec);
    if (ec || ::tcgetpgrp(slave) != p.group_id()) return 19;
    ::tcsetattr(slave, TCSANOW, &raw);
  }
  if (::tcgetpgrp(slave) != ::getpgrp()) return 20;
  termios kept{};
  ::tcgetattr(slave, &kept);
  if ((kept.c_lflag & ICANON) != 0) return 21;  // keep: the raw mode stayed
  ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  if (sigismember(&mask, SIGTTOU) != 0) return 22;  // unblocked again
  return 0;
}

TEST(terminal, a_lease_lends_the_terminal_to_the_child_group_and_takes_it_back) {
  pty_pair t;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(t.master);
    ::_exit(lease_in_a_session_of_its_own(t.slave));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see lease_in_a_session_of_its_own for the step";
}

TEST(terminal, has_stopped_reports_a_child_that_stopped_itself) {
  pipekit::process running = pipekit::command{child_path, "sleep", "60000"}.spawn();
  EXPECT_FALSE(pipekit::has_stopped(running));

  pipekit::process p = pipekit::command{child_path, "signal", std::to_string(SIGSTOP)}.spawn();
  bool stopped = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!stopped && std::chrono::steady_clock::now() < until) {
    stopped = pipekit::has_stopped(p);
    if (!stopped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(stopped);
  EXPECT_FALSE(pipekit::has_stopped(p));  // the report was taken
  p.signal_group(SIGCONT);
  EXPECT_EQ(p.wait().code(), 100);        // the helper's status after raise() returned
  EXPECT_FALSE(pipekit::has_stopped(p));  // reaped
}

#endif

}  // namespace
