#include <fcntl.h>
#include <gtest/gtest.h>

#include <span>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"

namespace {

class poller_backends : public ::testing::TestWithParam<pipekit::poller_backend> {};

TEST_P(poller_backends, reports_readable_with_token_and_times_out_when_idle) {
  pipekit::poller p(GetParam());
  EXPECT_EQ(p.backend(), GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), pipekit::events::readable, 42);
  EXPECT_EQ(p.size(), 1u);
  pipekit::poll_event ev[4];
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::milliseconds(20))), 0u);
  w.write_all("x");
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_EQ(ev[0].token, 42u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::readable));
  // Level-triggered: still readable until drained.
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
}

TEST_P(poller_backends, reports_hangup_when_the_writer_closes) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), pipekit::events::readable, 1);
  w.close();
  pipekit::poll_event ev[2];
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::hangup));
}

TEST_P(poller_backends, reports_writable_and_error_when_the_reader_is_gone) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(w.native_handle(), pipekit::events::writable, 7);
  pipekit::poll_event ev[2];
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::writable));
  r.close();
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::error));
}

TEST_P(poller_backends, modify_and_remove_change_what_is_reported) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  w.write_all("x");
  p.add(r.native_handle(), pipekit::events::none, 1);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::milliseconds(10))), 0u);
  p.modify(r.native_handle(), pipekit::events::readable, 2);
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_EQ(ev[0].token, 2u);
  p.remove(r.native_handle());
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::milliseconds(10))), 0u);
  std::error_code ec;
  p.remove(r.native_handle(), ec);
  EXPECT_TRUE(ec);
}

TEST_P(poller_backends, wake_from_another_thread_ends_an_endless_wait) {
  pipekit::poller p(GetParam());
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p.wake();
  });
  pipekit::poll_event ev[1];
  EXPECT_EQ(p.wait(ev), 0u);  // no deadline: only wake() can end it
  waker.join();
}

TEST_P(poller_backends, many_pipes_each_reported_once_with_its_own_token) {
  pipekit::poller p(GetParam());
  std::vector<pipekit::pipe_pair> pipes;
  pipekit::pipe_options o;
  o.capacity = 0;
  for (int i = 0; i < 200; ++i) pipes.push_back(pipekit::make_pipe(o));
  for (std::size_t i = 0; i < pipes.size(); ++i) p.add(pipes[i].read_end.native_handle(), pipekit::events::readable, i);
  for (std::size_t i = 0; i < pipes.size(); i += 3) pipes[i].write_end.write_all("x");
  std::vector<pipekit::poll_event> ev(256);
  const std::size_t n = p.wait(ev, pipekit::after(std::chrono::seconds(5)));
  ASSERT_EQ(n, 67u);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(ev[i].token % 3, 0u);
}

TEST_P(poller_backends, regular_files_and_dev_null_are_always_ready) {
  // epoll refuses them (EPERM); both backends report them ready like poll().
  pipekit::poller p(GetParam());
  pipekit::handle null_in{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  pipekit::handle file{::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)};
  auto [r, w] = pipekit::make_pipe();
  p.add(null_in.get(), pipekit::events::readable, 1);
  p.add(file.get(), pipekit::events::readable, 2);
  p.add(r.native_handle(), pipekit::events::readable, 3);
  EXPECT_EQ(p.size(), 3u);
  pipekit::poll_event ev[4];
  const auto start = pipekit::clock::now();
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(10))), 2u);
  EXPECT_LT(pipekit::clock::now() - start, std::chrono::seconds(5));  // did not sleep to the deadline
  EXPECT_EQ(ev[0].token + ev[1].token, 3u);
  w.write_all("x");
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(10))), 3u);
  p.modify(file.get(), pipekit::events::none, 2);
  p.remove(null_in.get());
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(10))), 1u);
  EXPECT_EQ(ev[0].token, 3u);
  EXPECT_EQ(p.size(), 2u);
}

TEST_P(poller_backends, end_of_stream_is_readable_so_a_read_when_readable_loop_ends) {
  // The seed's loop: read only when the poller says readable; stop at 0.
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  r.set_nonblocking(true);
  p.add(r.native_handle(), pipekit::events::readable, 1);
  w.write_all("last words");
  w.close();
  std::string got;
  pipekit::poll_event ev[2];
  for (int rounds = 0; rounds < 100; ++rounds) {
    ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
    ASSERT_TRUE(pipekit::any(ev[0].what & pipekit::events::readable)) << "hangup without readable";
    std::byte buf[64];
    const std::size_t n = r.read_some(buf);
    if (n == 0) break;
    got.append(reinterpret_cast<const char*>(buf), n);
  }
  EXPECT_EQ(got, "last words");
}

TEST_P(poller_backends, a_write_end_whose_reader_is_gone_is_writable_so_the_write_reports_it) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(w.native_handle(), pipekit::events::writable, 1);
  r.close();
  pipekit::poll_event ev[2];
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::writable));
  std::error_code ec;
  (void)w.write_some(std::as_bytes(std::span("x", 1)), ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe) << ec.message();
}

TEST_P(poller_backends, hangup_does_not_report_what_was_not_asked_for) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), pipekit::events::none, 1);
  w.close();
  pipekit::poll_event ev[2];
  // poll() and epoll report a hang-up even with no interest; it must not
  // pretend to be readable then.
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::hangup));
  EXPECT_FALSE(pipekit::any(ev[0].what & pipekit::events::readable));
}

TEST_P(poller_backends, adding_a_reused_number_of_a_handle_closed_while_registered_is_refused) {
  pipekit::poller p(GetParam());
  auto first = pipekit::make_pipe();
  const int number = first.read_end.native_handle();
  p.add(number, pipekit::events::readable, 1);
  first.read_end.close();  // closed without remove()
  first.write_end.close();
  // The next pipe gets the lowest free number: the one just closed.
  auto second = pipekit::make_pipe();
  ASSERT_EQ(second.read_end.native_handle(), number);
  std::error_code ec;
  p.add(number, pipekit::events::readable, 2, ec);
  EXPECT_EQ(ec, pipekit::errc::stale_registration) << ec.message();
  // remove() forgets the stale registration; then the new file can be added.
  p.remove(number, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.size(), 0u);
  p.add(number, pipekit::events::readable, 2, ec);
  EXPECT_FALSE(ec) << ec.message();
  second.write_end.write_all("x");
  pipekit::poll_event ev[2];
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_EQ(ev[0].token, 2u);
  // Adding the same open handle twice is still "exists".
  p.add(number, pipekit::events::readable, 3, ec);
  EXPECT_TRUE(ec == std::errc::file_exists) << ec.message();
}

INSTANTIATE_TEST_SUITE_P(all, poller_backends,
                         ::testing::Values(pipekit::poller_backend::epoll, pipekit::poller_backend::poll),
                         [](const auto& param_info) {
                           return param_info.param == pipekit::poller_backend::epoll ? std::string("epoll")
                                                                                     : std::string("poll");
                         });

TEST(poller, automatic_backend_is_epoll_on_linux) {
  pipekit::poller p;
  EXPECT_EQ(p.backend(), pipekit::poller_backend::epoll);
}

}  // namespace
