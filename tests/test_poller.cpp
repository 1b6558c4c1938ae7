// pipekit::poller on both systems: epoll and poll() on POSIX, an I/O
// completion port on Windows (under Wine in CI); every backend runs the
// parameterised cases. What only Windows watches (events, CreatePipe pipes)
// is in test_poller_windows.cpp.
#include <gtest/gtest.h>

#include "pipekit/poller.hpp"

#ifndef _WIN32
#include <fcntl.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using namespace pipekit_test;
using pipekit::events;

class poller_backends : public ::testing::TestWithParam<pipekit::poller_backend> {};

TEST_P(poller_backends, reports_readable_with_token_and_times_out_when_idle) {
  pipekit::poller p(GetParam());
  EXPECT_EQ(p.backend(), GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), pipekit::events::readable, 42);
  EXPECT_EQ(p.size(), 1u);
  pipekit::poll_event ev[4];
  const auto start = pipekit::clock::now();
  EXPECT_EQ(p.wait(ev, pipekit::after(50ms)), 0u);
  EXPECT_GE(pipekit::clock::now() - start, 45ms);
  w.write_all("xy");
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_EQ(ev[0].token, 42u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::readable));
  // Level-triggered: still readable until drained. (On Windows the
  // zero-byte read behind it took nothing.)
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  char buf[8];
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(buf))), 2u);
  EXPECT_EQ(std::string(buf, 2), "xy");
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
}

TEST_P(poller_backends, reports_hangup_when_the_writer_closes) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), pipekit::events::readable, 1);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);  // on Windows the zero-byte read is pending now
  w.close();
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(5))), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::hangup));
  EXPECT_TRUE(pipekit::any(ev[0].what & pipekit::events::readable));
  char c;
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(&c, 1))), 0u);  // end of stream
}

#ifndef _WIN32  // Windows pipes have no write readiness: always writable, never an error (poller.hpp)
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
#endif

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
  // A handle with a read in progress (on Windows) removed and added again.
  auto [r2, w2] = pipekit::make_pipe();
  p.add(r2.native_handle(), events::readable, 1);
  p.add(r2.native_handle(), events::readable, 1, ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);  // a read is pending
  p.remove(r2.native_handle());
  EXPECT_EQ(p.size(), 0u);
  w2.write_all("x");
  EXPECT_EQ(p.wait(ev, pipekit::after(50ms)), 0u);
  // Added again (the handle stays bound to the port): reported again.
  p.add(r2.native_handle(), events::readable, 5);
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 5u);
  p.modify(r2.native_handle(), events::none, 6);
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  p.modify(r2.native_handle(), events::readable, 7);
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 7u);
  p.remove(r2.native_handle(), ec);
  EXPECT_FALSE(ec);
  p.remove(r2.native_handle(), ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

TEST_P(poller_backends, wake_from_another_thread_ends_an_endless_wait) {
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), pipekit::events::readable, 1);  // a read in progress on Windows
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p.wake();
  });
  pipekit::poll_event ev[1];
  EXPECT_EQ(p.wait(ev), 0u);  // no deadline: only wake() can end it
  waker.join();
}

#ifndef _WIN32  // a Windows pipe of capacity 0 blocks each write until it is read
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
#endif

#ifndef _WIN32  // regular files and /dev/null
TEST_P(poller_backends, regular_files_and_dev_null_are_always_ready) {
  // epoll refuses them (EPERM); both backends report them ready like poll().
  pipekit::poller p(GetParam());
  pipekit::handle null_in{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  pipekit::handle file{::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)};
  auto [r, w] = pipekit::make_pipe();
  p.add(null_in.native_handle(), pipekit::events::readable, 1);
  p.add(file.native_handle(), pipekit::events::readable, 2);
  p.add(r.native_handle(), pipekit::events::readable, 3);
  EXPECT_EQ(p.size(), 3u);
  pipekit::poll_event ev[4];
  const auto start = pipekit::clock::now();
  ASSERT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(10))), 2u);
  EXPECT_LT(pipekit::clock::now() - start, std::chrono::seconds(5));  // did not sleep to the deadline
  EXPECT_EQ(ev[0].token + ev[1].token, 3u);
  w.write_all("x");
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(10))), 3u);
  p.modify(file.native_handle(), pipekit::events::none, 2);
  p.remove(null_in.native_handle());
  EXPECT_EQ(p.wait(ev, pipekit::after(std::chrono::seconds(10))), 1u);
  EXPECT_EQ(ev[0].token, 3u);
  EXPECT_EQ(p.size(), 2u);
}
#endif

TEST_P(poller_backends, end_of_stream_is_readable_so_a_read_when_readable_loop_ends) {
  // The seed's loop: read only when the poller says readable; stop at 0.
  pipekit::poller p(GetParam());
  auto [r, w] = pipekit::make_pipe();
#ifndef _WIN32  // Windows pipes have no non-blocking mode; a read after "readable" does not block there
  r.set_nonblocking(true);
#endif
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

#ifndef _WIN32  // the completion port sees an end only through a read it was asked for
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
#endif

#ifndef _WIN32  // descriptor numbers are reused lowest first
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
#endif

TEST_P(poller_backends, removing_a_handle_with_a_pending_read_and_closing_it_is_safe) {
  pipekit::poller p(GetParam());
  for (int i = 0; i < 20; ++i) {
    auto [r, w] = pipekit::make_pipe();
    p.add(r.native_handle(), events::readable, 1);
    pipekit::poll_event ev[2];
    EXPECT_EQ(p.wait(ev, pipekit::after(1ms)), 0u);  // leaves a zero-byte read pending
    if (i % 2 == 0) {
      p.remove(r.native_handle());
      r.close();
    } else {
      const pipekit::native_handle_type h = r.native_handle();
      r.close();  // closed while registered: the close cancels the read
      p.remove(h);
    }
  }
  EXPECT_EQ(p.size(), 0u);
}

// Every backend the system has.
auto backends() {
#ifdef _WIN32
  return ::testing::Values(pipekit::poller_backend::iocp);
#else
  return ::testing::Values(pipekit::poller_backend::epoll, pipekit::poller_backend::poll);
#endif
}

INSTANTIATE_TEST_SUITE_P(all, poller_backends, backends(), [](const auto& param_info) {
  switch (param_info.param) {
    case pipekit::poller_backend::epoll: return std::string("epoll");
    case pipekit::poller_backend::poll: return std::string("poll");
    default: return std::string("iocp");
  }
});

#ifdef _WIN32
TEST(windows_poller, automatic_backend_is_the_completion_port) {
  pipekit::poller p;
  EXPECT_EQ(p.backend(), pipekit::poller_backend::iocp);
  std::error_code ec;
  pipekit::poller e(pipekit::poller_backend::epoll, ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
}
#else
TEST(poller, automatic_backend_is_epoll_on_linux) {
  pipekit::poller p;
  EXPECT_EQ(p.backend(), pipekit::poller_backend::epoll);
}
#endif

TEST(poller, a_process_handle_is_readable_once_the_process_exits) {
  pipekit::process child = pipekit_test::child({"sleep", "200"}).spawn();
  pipekit::poller p;
  p.add(child.native_handle(), events::readable, 3);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);
  ASSERT_EQ(p.wait(ev, pipekit::after(10s)), 1u);
  EXPECT_EQ(ev[0].token, 3u);
  const auto status = child.try_wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code(), 0);
  // Level-triggered: a signalled object stays ready.
  EXPECT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  p.remove(child.native_handle());
}

TEST(poller, message_mode_connections_keep_empty_messages) {
  // A zero-byte read would consume an empty message: the poller must ask
  // PeekNamedPipe instead, and the empty message must still arrive.
#ifdef _WIN32
  const std::string name = unique_name("pipekit-test-poller");
#else
  temp_dir dir;
  const std::string name = dir.socket();
#endif
  pipekit::listen_options options;
  options.mode = pipekit::local_mode::messages;
  pipekit::local_server server = pipekit::local_server::listen(name, options);
  pipekit::local_connection client = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(5s));
  pipekit::local_connection conn = server.accept(pipekit::after(5s));
  pipekit::poller p;
  p.add(conn.native_handle(), events::readable, 1);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  client.send("one");
  client.send("");
  client.send("three");
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(conn.recv(pipekit::after(5s)), "one");
  EXPECT_EQ(conn.recv(pipekit::after(5s)), "");
  EXPECT_EQ(conn.recv(pipekit::after(5s)), "three");
}

// ---- deadlines on pipe streams ----------------------------------------------

TEST(pipe_deadline, a_read_with_a_deadline_times_out_and_then_reads) {
  auto [r, w] = pipekit::make_pipe();
  char buf[8];
  std::error_code ec;
  const auto start = pipekit::clock::now();
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(100ms), ec), 0u);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(pipekit::clock::now() - start, 90ms);
  w.write_all("abc");
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 3u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::string(buf, 3), "abc");
}

TEST(pipe_deadline, a_write_into_a_full_pipe_times_out_and_loses_nothing) {
  pipekit::pipe_options small;
  small.capacity = 4096;
  auto [r, w] = pipekit::make_pipe(small);
  // Fill the pipe until a write with a deadline gives up.
  std::string chunk(1024, 'a');
  std::size_t written = 0;
  std::error_code ec;
  const pipekit::deadline give_up = pipekit::after(10s);
  while (pipekit::clock::now() < give_up) {
    const std::size_t n = w.write_some(std::as_bytes(std::span(chunk)), pipekit::after(50ms), ec);
    written += n;
    if (ec) break;
  }
  ASSERT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(written, 1024u);
  // Everything reported written is readable, nothing more.
  std::size_t got = 0;
  char buf[65536];
  for (;;) {
    const std::size_t n = r.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(200ms), ec);
    if (ec) break;
    got += n;
  }
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(got, written);
}

TEST(pipe_deadline, stream_wait_sees_data_and_the_end) {
  auto [r, w] = pipekit::make_pipe();
  EXPECT_FALSE(r.wait(pipekit::events::readable, pipekit::after(30ms)));
  w.write_all("x");
  EXPECT_TRUE(r.wait(pipekit::events::readable, pipekit::after(5s)));
  char c;
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(&c, 1))), 1u);
  w.close();
  EXPECT_TRUE(r.wait(pipekit::events::readable, pipekit::after(5s)));
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(&c, 1))), 0u);
}

}  // namespace
