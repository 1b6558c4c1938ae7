// Writes that never raise SIGPIPE (src/posix/nosignal_write.hpp): the
// kernel's RWF_NOSIGNAL where Linux has it, and the portable guard, which
// this test calls directly so that it stays covered on kernels that have
// the flag. SIGPIPE keeps its default disposition here: a write that let it
// through would kill the test program.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "posix/nosignal_write.hpp"

namespace {

using write_fn = ssize_t (*)(int, const struct iovec*, int, int&) noexcept;

bool sigpipe_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

bool sigpipe_blocked() {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return sigismember(&mask, SIGPIPE) == 1;
}

void check_writes_and_broken_pipe(write_fn write) {
  ASSERT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL) << "the test needs SIGPIPE's default disposition";
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::string a = "head-";
  std::string b = "tail";
  struct iovec two[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  int err = 0;
  EXPECT_EQ(write(p[1], two, 2, err), 9);
  char buf[16];
  EXPECT_EQ(::read(p[0], buf, sizeof buf), 9);
  EXPECT_EQ(std::string(buf, 9), "head-tail");

  ::close(p[0]);  // no reader any more
  EXPECT_EQ(write(p[1], two, 1, err), -1);
  EXPECT_EQ(err, EPIPE);
  EXPECT_FALSE(sigpipe_pending());
  EXPECT_FALSE(sigpipe_blocked());                 // the thread's mask is as it was
  EXPECT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL);  // and the disposition
  ::close(p[1]);
}

TEST(nosignal_write, the_chosen_way_writes_and_reports_epipe_without_a_signal) {
  check_writes_and_broken_pipe(&pipekit::detail::writev_nosignal);
}

TEST(nosignal_write, the_guard_writes_and_reports_epipe_without_a_signal) {
  check_writes_and_broken_pipe(&pipekit::detail::writev_with_sigpipe_blocked);
}

TEST(nosignal_write, the_guard_keeps_the_mask_and_a_pending_sigpipe_of_a_caller_that_blocks_it) {
  sigset_t pipe_only;
  sigset_t old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[0]);
  char c = 'x';
  struct iovec one {
    &c, 1
  };
  int err = 0;
  EXPECT_EQ(pipekit::detail::writev_with_sigpipe_blocked(p[1], &one, 1, err), -1);
  EXPECT_EQ(err, EPIPE);
  EXPECT_TRUE(sigpipe_blocked());   // the caller's mask stays
  EXPECT_FALSE(sigpipe_pending());  // the write's SIGPIPE was taken
  // A SIGPIPE the caller already had pending is the caller's and stays.
  ::pthread_kill(::pthread_self(), SIGPIPE);
  ASSERT_TRUE(sigpipe_pending());
  EXPECT_EQ(pipekit::detail::writev_with_sigpipe_blocked(p[1], &one, 1, err), -1);
  EXPECT_TRUE(sigpipe_pending());
  const struct timespec zero {};
  EXPECT_EQ(sigtimedwait(&pipe_only, nullptr, &zero), SIGPIPE);
  EXPECT_FALSE(sigpipe_pending());  // exactly one was pending
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(p[1]);
}

}  // namespace
