#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/signals.hpp"

#if !defined(_WIN32)
#include <poll.h>
#include <signal.h>

#include <string>

#include "pipekit/process.hpp"
#endif

namespace {

TEST(signals, only_one_relay_at_a_time) {
  const std::array<int, 1> one{pipekit::signal_interrupt};
  pipekit::signal_relay first(one);
  ASSERT_TRUE(first.active());
  std::error_code ec;
  pipekit::signal_relay second(one, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
  EXPECT_FALSE(second.active());
  EXPECT_EQ(second.native_handle(), pipekit::invalid_native_handle);
  EXPECT_TRUE(second.take().empty());
  EXPECT_THROW(pipekit::signal_relay{one}, std::system_error);
}

TEST(signals, a_relay_can_follow_another) {
  const std::array<int, 1> one{pipekit::signal_interrupt};
  { pipekit::signal_relay first(one); }
  std::error_code ec;
  pipekit::signal_relay next(one, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(next.active());
  EXPECT_NE(next.native_handle(), pipekit::invalid_native_handle);
  EXPECT_TRUE(next.take().empty());  // nothing arrived; never blocks
}

#if defined(_WIN32)

TEST(signals, windows_relays_console_events_only) {
  const std::array<int, 1> term{15};
  std::error_code ec;
  pipekit::signal_relay r(term, ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  EXPECT_FALSE(r.active());
}

#else

const std::string child_path = PIPEKIT_CHILD_PATH;

bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  int r = 0;
  while ((r = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    // the signal under test may interrupt the wait for its own byte
  }
  return r == 1 && (p.revents & POLLIN) != 0;
}

void (*handler_of(int sig))(int) {
  struct sigaction now {};
  ::sigaction(sig, nullptr, &now);
  return now.sa_handler;
}

TEST(signals, a_raised_signal_is_taken_instead_of_its_default_action) {
  const std::array<int, 1> usr1{SIGUSR1};
  pipekit::signal_relay relay(usr1);
  ASSERT_EQ(::raise(SIGUSR1), 0);  // its default action would end this test program
  ASSERT_TRUE(readable(relay.native_handle(), 10000));
  EXPECT_EQ(relay.take(), std::vector<int>{SIGUSR1});
  EXPECT_TRUE(relay.take().empty());
  EXPECT_FALSE(readable(relay.native_handle(), 0));
}

TEST(signals, several_signals_come_oldest_first) {
  const std::array<int, 2> both{SIGUSR1, SIGUSR2};
  pipekit::signal_relay relay(both);
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(readable(relay.native_handle(), 10000));
  EXPECT_EQ(relay.take(), (std::vector<int>{SIGUSR2, SIGUSR1}));
}

extern "C" void counting_handler(int) {}

TEST(signals, the_previous_dispositions_come_back) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction custom {};
  custom.sa_handler = counting_handler;
  struct sigaction old1 {};
  struct sigaction old2 {};
  ASSERT_EQ(::sigaction(SIGUSR1, &ignore, &old1), 0);
  ASSERT_EQ(::sigaction(SIGUSR2, &custom, &old2), 0);
  {
    const std::array<int, 3> listed{SIGUSR1, SIGUSR2, SIGUSR1};  // listed twice: still the original comes back
    pipekit::signal_relay relay(listed);
    EXPECT_NE(handler_of(SIGUSR1), SIG_IGN);
    EXPECT_NE(handler_of(SIGUSR2), &counting_handler);
  }
  EXPECT_EQ(handler_of(SIGUSR1), SIG_IGN);
  EXPECT_EQ(handler_of(SIGUSR2), &counting_handler);
  ::sigaction(SIGUSR1, &old1, nullptr);
  ::sigaction(SIGUSR2, &old2, nullptr);
}

TEST(signals, an_uncatchable_signal_is_an_error_and_changes_nothing) {
  const auto before = handler_of(SIGUSR1);
  const std::array<int, 2> listed{SIGUSR1, SIGKILL};
  std::error_code ec;
  pipekit::signal_relay relay(listed, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_FALSE(relay.active());
  EXPECT_EQ(handler_of(SIGUSR1), before);  // the one installed before SIGKILL failed is undone
  const std::array<int, 1> usr1{SIGUSR1};
  pipekit::signal_relay next(usr1, ec);  // and the relay slot was freed
  EXPECT_FALSE(ec);
}

TEST(signals, a_child_that_exits_arrives_as_sigchld) {
  const std::array<int, 1> chld{SIGCHLD};
  pipekit::signal_relay relay(chld);
  pipekit::process p = pipekit::command{child_path, "exit", "3"}.spawn();
  ASSERT_TRUE(readable(relay.native_handle(), 30000));
  const std::vector<int> got = relay.take();
  EXPECT_NE(std::find(got.begin(), got.end(), SIGCHLD), got.end());
  EXPECT_EQ(p.wait().code(), 3);
}

TEST(signals, a_sigterm_to_us_is_forwarded_to_the_child_group) {
  const std::array<int, 1> term{SIGTERM};
  pipekit::signal_relay relay(term);
  pipekit::process p = pipekit::command{child_path, "sleep", "60000"}.spawn();
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);  // we survive it: the relay has it
  ASSERT_TRUE(readable(relay.native_handle(), 30000));
  for (const int sig : relay.take()) p.signal_group(sig);
  const pipekit::exit_status s = p.wait();
  EXPECT_EQ(s.signal(), SIGTERM);
}

#endif

}  // namespace
