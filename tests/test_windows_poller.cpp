// The Windows poller (an I/O completion port) and deadlines on pipe reads
// and writes, checked on Windows code (under Wine in CI). <windows.h> is
// used only to make handles pipekit did not make (CreatePipe, events).
#include <gtest/gtest.h>

#include "pipekit/poller.hpp"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::events;

std::string unique_name() {
  static std::atomic<int> serial{0};
  return "pipekit-test-poller-" + std::to_string(::GetCurrentProcessId()) + "-" + std::to_string(serial++);
}

TEST(windows_poller, automatic_backend_is_the_completion_port) {
  pipekit::poller p;
  EXPECT_EQ(p.backend(), pipekit::poller_backend::iocp);
  std::error_code ec;
  pipekit::poller e(pipekit::poller_backend::epoll, ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
}

TEST(windows_poller, reports_readable_with_token_level_triggered_and_times_out_when_idle) {
  pipekit::poller p;
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), events::readable, 42);
  EXPECT_EQ(p.size(), 1u);
  pipekit::poll_event ev[4];
  const auto start = pipekit::clock::now();
  EXPECT_EQ(p.wait(ev, pipekit::after(50ms)), 0u);
  EXPECT_GE(pipekit::clock::now() - start, 45ms);
  w.write_all("xy");
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 42u);
  EXPECT_TRUE(pipekit::any(ev[0].what & events::readable));
  // The zero-byte read took nothing, and the handle stays readable.
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  char buf[8];
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(buf))), 2u);
  EXPECT_EQ(std::string(buf, 2), "xy");
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
}

TEST(windows_poller, reports_hangup_when_the_writer_closes) {
  pipekit::poller p;
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), events::readable, 1);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);  // the zero-byte read is pending now
  w.close();
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_TRUE(pipekit::any(ev[0].what & events::hangup));
  EXPECT_TRUE(pipekit::any(ev[0].what & events::readable));
  char c;
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(&c, 1))), 0u);  // end of stream
}

TEST(windows_poller, a_pipe_registered_for_writable_is_always_writable) {
  // Windows has no write readiness for pipes (documented in poller.hpp).
  pipekit::poller p;
  auto [r, w] = pipekit::make_pipe();
  p.add(w.native_handle(), events::writable, 7);
  pipekit::poll_event ev[2];
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 7u);
  EXPECT_TRUE(pipekit::any(ev[0].what & events::writable));
}

TEST(windows_poller, modify_and_remove_change_what_is_reported) {
  pipekit::poller p;
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), events::readable, 1);
  std::error_code ec;
  p.add(r.native_handle(), events::readable, 1, ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);  // a read is pending
  p.remove(r.native_handle());
  EXPECT_EQ(p.size(), 0u);
  w.write_all("x");
  EXPECT_EQ(p.wait(ev, pipekit::after(50ms)), 0u);
  // Added again (the handle stays bound to the port): reported again.
  p.add(r.native_handle(), events::readable, 5);
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 5u);
  p.modify(r.native_handle(), events::none, 6);
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  p.modify(r.native_handle(), events::readable, 7);
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 7u);
  p.remove(r.native_handle(), ec);
  EXPECT_FALSE(ec);
  p.remove(r.native_handle(), ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
}

TEST(windows_poller, wake_from_another_thread_ends_an_endless_wait) {
  pipekit::poller p;
  auto [r, w] = pipekit::make_pipe();
  p.add(r.native_handle(), events::readable, 1);
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    p.wake();
  });
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev), 0u);
  t.join();
}

TEST(windows_poller, a_hundred_pipes_more_than_wait_for_multiple_objects_takes) {
  pipekit::poller p;
  std::vector<pipekit::pipe_pair> pipes;
  for (int i = 0; i < 100; ++i) {
    pipes.push_back(pipekit::make_pipe());
    p.add(pipes.back().read_end.native_handle(), events::readable, static_cast<std::uint64_t>(i));
  }
  pipekit::poll_event ev[128];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);
  for (int i : {3, 64, 99}) pipes[static_cast<std::size_t>(i)].write_end.write_all("x");
  std::vector<std::uint64_t> seen;
  const pipekit::deadline until = pipekit::after(5s);
  while (seen.size() < 3 && pipekit::clock::now() < until) {
    const std::size_t n = p.wait(ev, until);
    for (std::size_t k = 0; k < n; ++k) {
      seen.push_back(ev[k].token);
      char c;
      (void)pipes[ev[k].token].read_end.read_some(std::as_writable_bytes(std::span(&c, 1)));
    }
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{3, 64, 99}));
}

TEST(windows_poller, a_synchronous_pipe_from_create_pipe_is_watched_too) {
  HANDLE rh = nullptr;
  HANDLE wh = nullptr;
  ASSERT_TRUE(::CreatePipe(&rh, &wh, nullptr, 0));
  pipekit::handle_stream r{pipekit::handle{rh}};
  pipekit::handle_stream w{pipekit::handle{wh}};
  pipekit::poller p;
  p.add(r.native_handle(), events::readable, 9);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    w.write_all("hi");
  });
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 9u);
  t.join();
  char buf[4];
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(buf))), 2u);
}

TEST(windows_poller, a_process_handle_is_readable_once_the_process_exits) {
  pipekit::command cmd{PIPEKIT_CHILD_PATH, "sleep", "200"};
  pipekit::process child = cmd.spawn();
  pipekit::poller p;
  p.add(child.exit_handle(), events::readable, 3);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);
  ASSERT_EQ(p.wait(ev, pipekit::after(10s)), 1u);
  EXPECT_EQ(ev[0].token, 3u);
  const auto status = child.try_wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code(), 0);
  // Level-triggered: a signalled object stays ready.
  EXPECT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  p.remove(child.exit_handle());
}

TEST(windows_poller, an_event_object_is_readable_when_set) {
  pipekit::handle event{::CreateEventW(nullptr, TRUE, FALSE, nullptr)};
  pipekit::poller p;
  p.add(event.get(), events::readable, 11);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);
  ::SetEvent(event.get());
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 11u);
  ::ResetEvent(event.get());
  EXPECT_EQ(p.wait(ev, pipekit::after(50ms)), 0u);
}

TEST(windows_poller, message_mode_connections_keep_empty_messages) {
  // A zero-byte read would consume an empty message: the poller must ask
  // PeekNamedPipe instead, and the empty message must still arrive.
  const std::string name = unique_name();
  pipekit::listen_options options;
  options.mode = pipekit::local_mode::messages;
  pipekit::local_server server = pipekit::local_server::listen(name, options);
  pipekit::local_connection client = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(5s));
  pipekit::local_connection conn = server.accept(pipekit::after(5s));
  pipekit::poller p;
  p.add(conn.native_handle(), events::readable, 1);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  client.send_message("one");
  client.send_message("");
  client.send_message("three");
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(conn.receive_message(pipekit::after(5s)), "one");
  EXPECT_EQ(conn.receive_message(pipekit::after(5s)), "");
  EXPECT_EQ(conn.receive_message(pipekit::after(5s)), "three");
}

TEST(windows_poller, removing_a_handle_with_a_pending_read_and_closing_it_is_safe) {
  pipekit::poller p;
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

// ---- deadlines on pipe streams ----------------------------------------------

TEST(windows_pipe_deadline, a_read_with_a_deadline_times_out_and_then_reads) {
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

TEST(windows_pipe_deadline, a_write_into_a_full_pipe_times_out_and_loses_nothing) {
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

TEST(windows_pipe_deadline, stream_wait_sees_data_and_the_end) {
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
