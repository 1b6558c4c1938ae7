#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"

namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

TEST(pipe, read_returns_what_was_written_and_zero_after_writer_closes) {
  auto [r, w] = pipekit::make_pipe();
  w.write_all("hello");
  w.close();
  EXPECT_EQ(r.read_to_end(), "hello");
  std::byte b[1];
  EXPECT_EQ(r.read_some(b), 0u);
}

TEST(pipe, ends_are_close_on_exec) {
  auto [r, w] = pipekit::make_pipe();
  EXPECT_TRUE(::fcntl(r.native_handle(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(w.native_handle(), F_GETFD) & FD_CLOEXEC);
}

TEST(pipe, default_capacity_is_one_mebibyte) {
  auto [r, w] = pipekit::make_pipe();
  EXPECT_EQ(pipekit::pipe_capacity(r.native_handle()), pipekit::default_pipe_capacity);
}

TEST(pipe, capacity_zero_keeps_the_os_default_and_can_be_changed) {
  pipekit::pipe_options o;
  o.capacity = 0;
  auto [r, w] = pipekit::make_pipe(o);
  EXPECT_EQ(pipekit::pipe_capacity(w.native_handle()), 65536u);
  EXPECT_GE(pipekit::set_pipe_capacity(w.native_handle(), 200000), 200000u);
  EXPECT_GE(pipekit::pipe_capacity(r.native_handle()), 200000u);
}

TEST(pipe, capacity_above_system_maximum_is_an_error_when_required) {
  pipekit::pipe_options o;
  o.capacity = std::size_t{1} << 30;
  o.require_capacity = true;
  std::error_code ec;
  auto p = pipekit::make_pipe(o, ec);
  if (::geteuid() == 0) {
    // root may exceed pipe-max-size; the limit is then memory, not policy.
    GTEST_LOG_(INFO) << "running as root: " << ec.message();
  } else {
    EXPECT_TRUE(ec == std::errc::operation_not_permitted) << ec.message();
    EXPECT_FALSE(p.read_end.is_open());
  }
  o.require_capacity = false;
  auto q = pipekit::make_pipe(o, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(q.read_end.is_open());
}

// Runs `check` in a forked child as an unprivileged user (nobody when we are
// root), where Linux's per-user pipe accounting applies; returns its exit code.
int run_unprivileged(int (*check)()) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(90);
    ::_exit(check());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

std::size_t soft_limit_pages() {
  std::ifstream soft("/proc/sys/fs/pipe-user-pages-soft");
  std::size_t pages = 0;
  soft >> pages;
  return pages;
}

int enlarge_many_pipes_and_check_the_rest_of_the_user_is_unharmed() {
  const std::size_t budget_pipes = soft_limit_pages() / 2 / (pipekit::default_pipe_capacity / 4096);
  std::vector<pipekit::pipe_pair> pipes;
  std::size_t enlarged = 0;
  for (std::size_t i = 0; i < budget_pipes + 40; ++i) {
    pipes.push_back(pipekit::make_pipe());
    if (pipekit::pipe_capacity(pipes.back().read_end.native_handle()) == pipekit::default_pipe_capacity) ++enlarged;
  }
  // Half of the soft limit (16384 pages by default: 32 pipes of 1 MiB).
  if (enlarged == 0 || enlarged > budget_pipes) return 1;
  // A plain pipe made now (by any program of this user) still gets 64 KiB.
  int fds[2];
  if (::pipe(fds) != 0) return 2;
  const int plain = ::fcntl(fds[0], F_GETPIPE_SZ);
  if (plain != 65536) return 3;
  pipes.clear();
  // The budget came back: enlarging works again.
  auto again = pipekit::make_pipe();
  return pipekit::pipe_capacity(again.read_end.native_handle()) == pipekit::default_pipe_capacity ? 0 : 4;
}

TEST(pipe, default_enlargement_stays_within_half_the_per_user_budget) {
  ASSERT_GT(soft_limit_pages(), 0u) << "no per-user pipe limit on this machine";
  EXPECT_EQ(run_unprivileged(enlarge_many_pipes_and_check_the_rest_of_the_user_is_unharmed), 0);
}

TEST(pipe, atomic_write_size_is_pipe_buf) { EXPECT_EQ(pipekit::pipe_atomic_write_size(), 4096u); }

TEST(pipe, write_without_reader_gives_broken_pipe_and_keeps_sigpipe_disposition) {
  struct sigaction before {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &before), 0);
  ASSERT_EQ(before.sa_handler, SIG_DFL);  // the default action would kill us
  auto [r, w] = pipekit::make_pipe();
  r.close();
  std::error_code ec;
  const std::size_t n = w.write_all(bytes("x"), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(ec == std::errc::broken_pipe) << ec.message();
  EXPECT_THROW(w.write_all("again"), std::system_error);
  struct sigaction after {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_DFL);
  // Nothing left pending either: unblocking SIGPIPE must not kill us later.
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_FALSE(sigismember(&mask, SIGPIPE));
}

TEST(pipe, broken_pipe_leaves_no_sigpipe_pending_in_a_thread_that_blocks_it) {
  // pipekit's writes raise no SIGPIPE at all, also where the thread blocked
  // it itself (the kernel would leave one pending there).
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  auto [r, w] = pipekit::make_pipe();
  r.close();
  std::error_code ec;
  (void)w.write_all(bytes("x"), ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_TRUE(sigismember(&mask, SIGPIPE));  // still blocked, as the thread asked
  const struct timespec zero {};
  sigtimedwait(&pipe_only, nullptr, &zero);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST(pipe, nonblocking_read_on_empty_pipe_would_block) {
  pipekit::pipe_options o;
  o.nonblocking_read = true;
  auto [r, w] = pipekit::make_pipe(o);
  EXPECT_TRUE(r.nonblocking());
  std::byte b[8];
  std::error_code ec;
  EXPECT_EQ(r.read_some(b, ec), 0u);
  EXPECT_TRUE(ec == std::errc::operation_would_block) << ec.message();
  w.write_all("ab");
  EXPECT_EQ(r.read_some(b, ec), 2u);
  EXPECT_FALSE(ec);
  r.set_nonblocking(false);
  EXPECT_FALSE(r.nonblocking());
}

TEST(pipe, nonblocking_write_into_full_pipe_would_block) {
  pipekit::pipe_options o;
  o.capacity = 0;
  o.nonblocking_write = true;
  auto [r, w] = pipekit::make_pipe(o);
  std::vector<std::byte> big(1 << 20);
  std::error_code ec;
  const std::size_t n = w.write_some(big, ec);
  EXPECT_EQ(n, 65536u);
  EXPECT_EQ(w.write_some(big, ec), 0u);
  EXPECT_TRUE(ec == std::errc::operation_would_block);
}

TEST(pipe, read_with_deadline_times_out_on_a_blocking_pipe) {
  auto [r, w] = pipekit::make_pipe();
  std::byte b[8];
  std::error_code ec;
  const auto start = pipekit::clock::now();
  EXPECT_EQ(r.read_some(b, pipekit::after(std::chrono::milliseconds(50)), ec), 0u);
  EXPECT_TRUE(ec == std::errc::timed_out);
  EXPECT_GE(pipekit::clock::now() - start, std::chrono::milliseconds(50));
}

TEST(pipe, write_with_deadline_on_a_full_blocking_pipe_times_out_and_reports_progress) {
  pipekit::pipe_options o;
  o.capacity = 0;
  auto [r, w] = pipekit::make_pipe(o);
  std::vector<std::byte> big(200000);
  std::error_code ec;
  const std::size_t n = w.write_all(big, pipekit::after(std::chrono::milliseconds(50)), ec);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_EQ(n, 65536u);  // exactly what fits: nothing lost without the caller knowing
}

TEST(pipe, write_all_and_read_exact_move_large_buffers_across_threads) {
  auto [r, w] = pipekit::make_pipe();
  std::vector<std::byte> data(8 << 20);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 31 + i / 251);
  std::thread writer([&, &w = w] { w.write_all(data); });
  std::vector<std::byte> got(data.size());
  EXPECT_EQ(r.read_exact(got), data.size());
  writer.join();
  EXPECT_EQ(got, data);
}

TEST(pipe, read_exact_reports_end_of_file_and_the_partial_count) {
  auto [r, w] = pipekit::make_pipe();
  w.write_all("abc");
  w.close();
  std::byte buf[10];
  std::error_code ec;
  EXPECT_EQ(r.read_exact(buf, ec), 3u);
  EXPECT_EQ(ec, pipekit::errc::end_of_file);
}

TEST(pipe, reads_and_writes_retry_after_signal_interruptions) {
  // A handler without SA_RESTART makes blocking calls fail with EINTR.
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = [](int) {};
  ::sigaction(SIGUSR1, &sa, &old);
  auto [r, w] = pipekit::make_pipe();
  const pthread_t reader = pthread_self();
  std::thread poker([&, &w = w] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      pthread_kill(reader, SIGUSR1);
    }
    w.write_all("done");
  });
  std::byte buf[4];
  EXPECT_EQ(r.read_exact(buf), 4u);
  poker.join();
  ::sigaction(SIGUSR1, &old, nullptr);
}

TEST(handle, close_twice_is_harmless_and_moves_transfer_ownership) {
  auto [r, w] = pipekit::make_pipe();
  pipekit::handle h = r.release_handle();
  const int fd = h.native_handle();
  pipekit::handle moved = std::move(h);
  EXPECT_FALSE(h.is_open());
  EXPECT_EQ(moved.native_handle(), fd);
  moved.close();
  moved.close();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

TEST(handle, duplicate_is_independent_and_close_on_exec) {
  auto [r, w] = pipekit::make_pipe();
  pipekit::handle d = w.release_handle().duplicate();
  EXPECT_TRUE(::fcntl(d.native_handle(), F_GETFD) & FD_CLOEXEC);
  const char c = 'z';
  ASSERT_EQ(::write(d.native_handle(), &c, 1), 1);
  std::byte b[1];
  EXPECT_EQ(r.read_some(b), 1u);
}

TEST(error, pipekit_codes_have_messages_and_match_standard_conditions) {
  const std::error_code ec = pipekit::errc::message_too_large;
  EXPECT_EQ(std::string(ec.category().name()), "pipekit");
  EXPECT_FALSE(ec.message().empty());
  EXPECT_TRUE(ec == std::errc::message_size);
  EXPECT_TRUE(std::error_code(pipekit::errc::protocol_error) == std::errc::protocol_error);
}

}  // namespace
