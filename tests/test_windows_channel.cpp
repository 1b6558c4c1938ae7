// The Windows twin of test_channel.cpp: multiprocessing framing over Windows
// pipes (duplex named pipes for channel_pair(), one-way pipes, local server
// connections), deadlines, the no-deadlock guarantee of two-way traffic,
// bounds against hostile peers, a child that finds its end through the
// environment, and authentication — on Windows code, under Wine in CI.
// (Python is not installed in the Wine prefix: the Python peers of
// test_channel.cpp and test_auth.cpp run on POSIX only; the wire format is
// the same code, checked there byte for byte.)
#include <gtest/gtest.h>

#include "pipekit/channel.hpp"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/auth.hpp"
#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::channel;

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
constexpr auto test_time = 60s;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7 + i / 977) & 0xff);
  return s;
}

std::string recv_or_fail(channel& ch) {
  std::string m;
  std::error_code ec;
  EXPECT_TRUE(ch.recv(m, pipekit::after(test_time), ec)) << ec.message();
  return m;
}

std::string unique_name() {
  static std::atomic<int> serial{0};
  return "pipekit-test-channel-" + std::to_string(::GetCurrentProcessId()) + "-" + std::to_string(serial++);
}

std::string handle_text(pipekit::native_handle_type h) {
  return std::to_string(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h)));
}

// ---- child modes: the test binary re-run as a pipekit peer ---------------------

constexpr const char* child_mode_variable = "PIPEKIT_CHANNEL_TEST_CHILD";

int run_child_mode(const std::string& mode) {
  std::error_code ec;
  channel ch = channel::from_environment(pipekit::channel_fd_variable, {}, ec);
  if (ec) return 10;
  std::string msg;
  if (mode == "echo") {
    while (ch.recv(msg, pipekit::no_deadline, ec)) {
      ch.send(msg, pipekit::no_deadline, ec);
      if (ec) return 11;
    }
    return ec ? 12 : 0;
  }
  if (mode.rfind("swap:", 0) == 0) {
    const std::size_t n = std::stoul(mode.substr(5));
    ch.send(pattern(n, 1), pipekit::after(test_time), ec);
    if (ec) return 13;
    if (!ch.recv(msg, pipekit::after(test_time), ec)) return 14;
    return msg == pattern(n, 2) ? 0 : 15;
  }
  return 20;
}

// Runs before main(): when a test spawns this binary as a peer, it plays
// that role and exits without starting GoogleTest.
[[maybe_unused]] const int child_dispatch = [] {
  if (const char* mode = std::getenv(child_mode_variable)) std::exit(run_child_mode(mode));
  return 0;
}();

std::string self_path() {
  wchar_t buf[4096];
  const DWORD n = ::GetModuleFileNameW(nullptr, buf, 4096);
  const int len = ::WideCharToMultiByte(CP_UTF8, 0, buf, static_cast<int>(n), nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<std::size_t>(len), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, buf, static_cast<int>(n), out.data(), len, nullptr, nullptr);
  return out;
}

// ---- round trips ---------------------------------------------------------------

TEST(windows_channel, round_trips_messages_of_0_1_and_1MiB_bytes_over_a_duplex_pipe) {
  auto [a, b] = pipekit::channel_pair();
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, mib}) {
    const std::string m = pattern(n, static_cast<unsigned>(n));
    std::thread t([&, n] {
      std::error_code ec;
      a.send(m, pipekit::after(test_time), ec);
      EXPECT_FALSE(ec) << ec.message() << " size " << n;
    });
    EXPECT_EQ(recv_or_fail(b), m);
    t.join();
    // And back (1 MiB and its header do not fit the pipe: from a thread).
    std::thread back([&] { b.send(m, pipekit::after(test_time)); });
    EXPECT_EQ(recv_or_fail(a), m);
    back.join();
  }
}

TEST(windows_channel, round_trips_messages_of_0_1_and_1MiB_bytes_over_a_one_way_pipe) {
  auto [r, w] = pipekit::channel_pair(false);
  EXPECT_FALSE(r.can_send());
  EXPECT_FALSE(w.can_recv());
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, mib}) {
    const std::string m = pattern(n, 7);
    std::thread t([&] { w.send(m, pipekit::after(test_time)); });
    EXPECT_EQ(recv_or_fail(r), m);
    t.join();
  }
  w.close_send();
  std::string m;
  EXPECT_FALSE(r.recv(m, pipekit::after(test_time)));  // clean end of stream
}

TEST(windows_channel, many_small_messages_arrive_whole_and_in_order) {
  auto [a, b] = pipekit::channel_pair();
  constexpr int count = 20000;
  std::thread t([&] {
    for (int i = 0; i < count; ++i) a.send(std::to_string(i) + ":" + pattern(static_cast<std::size_t>(i % 300), 0));
  });
  std::string m;
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(b.recv(m, pipekit::after(test_time)));
    ASSERT_EQ(m, std::to_string(i) + ":" + pattern(static_cast<std::size_t>(i % 300), 0));
  }
  t.join();
}

TEST(windows_channel, wire_format_is_multiprocessing_send_bytes) {
  auto p = pipekit::make_pipe();
  channel w(nullptr, std::make_unique<pipekit::handle_stream>(std::move(p.write_end)));
  w.send("hello");
  char buf[9];
  std::error_code ec;
  ASSERT_EQ(p.read_end.read_exact(std::as_writable_bytes(std::span(buf)), pipekit::after(test_time), ec), 9u);
  EXPECT_EQ(std::string(buf, 9), std::string("\0\0\0\x05hello", 9));
}

// ---- bounds and errors -----------------------------------------------------------

TEST(windows_channel, peer_announcing_4GiB_gets_message_too_large) {
  auto p = pipekit::make_pipe();
  channel r(std::make_unique<pipekit::handle_stream>(std::move(p.read_end)), nullptr);
  const std::string announce = std::string("\xff\xff\xff\xff", 4) + std::string("\0\0\0\x01\0\0\0\0", 8);
  p.write_end.write_all(announce + std::string(1000, 'x'));
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(r.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_FALSE(r.can_recv());
}

TEST(windows_channel, truncated_payload_at_end_of_stream_is_a_protocol_error) {
  auto p = pipekit::make_pipe();
  channel r(std::make_unique<pipekit::handle_stream>(std::move(p.read_end)), nullptr);
  p.write_end.write_all(
      std::string("\0\0\0\x0a"
                  "abc",
                  7));
  p.write_end.close();
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(r.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
}

TEST(windows_channel, recv_times_out_and_the_channel_stays_usable) {
  auto [a, b] = pipekit::channel_pair();
  std::string m;
  std::error_code ec;
  const auto start = pipekit::clock::now();
  EXPECT_FALSE(b.recv(m, pipekit::after(100ms), ec));
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(pipekit::clock::now() - start, 90ms);
  a.send("later");
  EXPECT_EQ(recv_or_fail(b), "later");
}

TEST(windows_channel, send_into_a_full_pipe_without_a_reader_times_out) {
  // Windows has no write readiness: the overlapped write is cancelled at the
  // deadline. Nothing reads the other end.
  auto [r, w] = pipekit::channel_pair(false);
  std::error_code ec;
  const auto start = pipekit::clock::now();
  w.send(pattern(4 * mib, 3), pipekit::after(200ms), ec);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(pipekit::clock::now() - start, 190ms);
  EXPECT_LT(pipekit::clock::now() - start, 20s);
}

TEST(windows_channel, send_to_a_closed_peer_is_broken_pipe) {
  auto [a, b] = pipekit::channel_pair();
  b.close();
  std::error_code ec;
  a.send("x", pipekit::after(test_time), ec);
  EXPECT_EQ(ec, std::errc::broken_pipe) << ec.message();
}

TEST(windows_channel, close_send_on_a_duplex_pipe_is_not_supported_and_says_so) {
  // A Windows pipe cannot shut down one direction (a socket could).
  auto [a, b] = pipekit::channel_pair();
  std::error_code ec;
  a.close_send(ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  a.send("still works");
  EXPECT_EQ(recv_or_fail(b), "still works");
}

// ---- no deadlock ----------------------------------------------------------------

void two_way_with_threads(pipekit::channel_ends ends, std::size_t size) {
  const std::string from_a = pattern(size, 1);
  const std::string from_b = pattern(size, 2);
  std::thread tb([&] {
    std::error_code ec;
    ends.second.send(from_b, pipekit::after(test_time), ec);  // before reading
    EXPECT_FALSE(ec) << ec.message();
    std::string m;
    EXPECT_TRUE(ends.second.recv(m, pipekit::after(test_time), ec)) << ec.message();
    EXPECT_TRUE(m == from_a);
  });
  std::error_code ec;
  ends.first.send(from_a, pipekit::after(test_time), ec);  // before reading
  EXPECT_FALSE(ec) << ec.message();
  std::string m;
  EXPECT_TRUE(ends.first.recv(m, pipekit::after(test_time), ec)) << ec.message();
  EXPECT_TRUE(m == from_b);
  tb.join();
}

TEST(windows_channel, two_peers_each_sending_8MiB_before_reading_both_finish_over_a_duplex_pipe) {
  two_way_with_threads(pipekit::channel_pair(), 8 * mib);
}

TEST(windows_channel, two_peers_each_sending_8MiB_before_reading_both_finish_over_two_pipes) {
  auto p1 = pipekit::make_pipe();
  auto p2 = pipekit::make_pipe();
  two_way_with_threads({channel(std::move(p1.read_end), std::move(p2.write_end)),
                        channel(std::move(p2.read_end), std::move(p1.write_end))},
                       8 * mib);
}

TEST(windows_channel, parent_and_pipekit_child_each_sending_8MiB_before_reading_both_finish) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self_path()};
  cmd.pass_handle(theirs.native_handle(), 3)
      .env(pipekit::channel_fd_variable, handle_text(theirs.native_handle()))
      .env(child_mode_variable, "swap:" + std::to_string(8 * mib))
      .kill_on_parent_death();
  auto p = cmd.spawn();
  theirs.close();
  std::error_code ec;
  mine.send(pattern(8 * mib, 2), pipekit::after(test_time), ec);
  EXPECT_FALSE(ec) << ec.message();
  std::string m;
  EXPECT_TRUE(mine.recv(m, pipekit::after(test_time), ec)) << ec.message();
  EXPECT_TRUE(m == pattern(8 * mib, 1));
  auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->success()) << st->to_string();
}

TEST(windows_channel, child_finds_its_end_through_the_environment) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self_path()};
  cmd.pass_handle(theirs.native_handle(), 3)
      .env(pipekit::channel_fd_variable, handle_text(theirs.native_handle()))
      .env(child_mode_variable, "echo")
      .kill_on_parent_death();
  auto p = cmd.spawn();
  theirs.close();
  for (const std::string m : {"one", "", "three"}) {
    mine.send(m);
    EXPECT_EQ(recv_or_fail(mine), m);
  }
  mine.close();  // no half-close on Windows: the child sees the end
  auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->success()) << st->to_string();
}

TEST(windows_channel, pass_channel_hands_the_end_and_its_value_to_a_child) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self_path()};
  pipekit::pass_channel(cmd, theirs).env(child_mode_variable, "echo").kill_on_parent_death();
  auto p = cmd.spawn();
  theirs.close();
  mine.send("via pass_channel");
  EXPECT_EQ(recv_or_fail(mine), "via pass_channel");
  mine.close();
  auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->success()) << st->to_string();
}

TEST(windows_channel, from_environment_checks_its_input_and_from_inherited_fd_sees_one_way_ends) {
  std::error_code ec;
  _putenv_s("PIPEKIT_TEST_BAD_HANDLE", "not-a-number");
  (void)channel::from_environment("PIPEKIT_TEST_BAD_HANDLE", {}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
  (void)channel::from_environment("PIPEKIT_TEST_UNSET_VARIABLE", {}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);

  auto p = pipekit::make_pipe();
  channel r = channel::from_inherited_fd(p.read_end.release_handle().release());
  EXPECT_TRUE(r.can_recv());
  EXPECT_FALSE(r.can_send());
  channel w = channel::from_inherited_fd(p.write_end.release_handle().release());
  EXPECT_TRUE(w.can_send());
  EXPECT_FALSE(w.can_recv());
  w.send("through");
  EXPECT_EQ(recv_or_fail(r), "through");
}

// ---- with the poller and threads ---------------------------------------------------

TEST(windows_channel, poller_reports_readable_and_recv_with_a_due_deadline_drains_what_is_there) {
  auto [a, b] = pipekit::channel_pair();
  pipekit::poller p;
  p.add(b.read_handle(), pipekit::events::readable, 1);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  const std::vector<std::string_view> batch{"x", "y", "z"};
  EXPECT_EQ(a.send_batch(batch), 3u);
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  std::vector<std::string> got;
  std::string m;
  std::error_code ec;
  while (b.recv(m, pipekit::clock::now(), ec)) got.push_back(m);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(got, (std::vector<std::string>{"x", "y", "z"}));
  p.remove(b.read_handle());
}

TEST(windows_channel, concurrent_senders_never_interleave_frames) {
  auto [a, b] = pipekit::channel_pair();
  constexpr int per_thread = 500;
  std::vector<std::thread> senders;
  for (unsigned t = 0; t < 4; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) a.send(std::to_string(t) + pattern(4000 + t, t));
    });
  std::string m;
  for (int i = 0; i < 4 * per_thread; ++i) {
    ASSERT_TRUE(b.recv(m, pipekit::after(test_time)));
    const unsigned t = static_cast<unsigned>(m[0] - '0');
    ASSERT_LT(t, 4u);
    ASSERT_EQ(m.substr(1), pattern(4000 + t, t));
  }
  for (auto& t : senders) t.join();
}

// ---- over a local server, with authentication -----------------------------------------

TEST(windows_channel, authenticated_channel_over_a_local_server_and_a_wrong_key_refused_both_ways) {
  const std::string name = unique_name();
  pipekit::local_server server = pipekit::local_server::listen(name);
  const std::string key = "secret";
  std::thread client([&] {
    pipekit::local_connection c = pipekit::connect_local(name, pipekit::local_mode::bytes, pipekit::after(test_time));
    channel ch(pipekit::handle_stream(c.release_handle()));
    pipekit::authenticate_client(ch, std::as_bytes(std::span(key)), pipekit::after(test_time));
    ch.send("hello over auth");
    EXPECT_EQ(recv_or_fail(ch), "welcome");
  });
  {
    pipekit::local_connection c = server.accept(pipekit::after(test_time));
    channel ch(pipekit::handle_stream(c.release_handle()));
    pipekit::authenticate_server(ch, std::as_bytes(std::span(key)), pipekit::after(test_time));
    EXPECT_EQ(recv_or_fail(ch), "hello over auth");
    ch.send("welcome");
  }
  client.join();

  const std::string wrong = "wrong";
  std::error_code client_ec;
  std::thread bad([&] {
    pipekit::local_connection c = pipekit::connect_local(name, pipekit::local_mode::bytes, pipekit::after(test_time));
    channel ch(pipekit::handle_stream(c.release_handle()));
    pipekit::authenticate_client(ch, std::as_bytes(std::span(wrong)), pipekit::after(test_time), client_ec);
  });
  pipekit::local_connection c = server.accept(pipekit::after(test_time));
  channel ch(pipekit::handle_stream(c.release_handle()));
  std::error_code server_ec;
  pipekit::authenticate_server(ch, std::as_bytes(std::span(key)), pipekit::after(test_time), server_ec);
  bad.join();
  EXPECT_EQ(server_ec, std::errc::permission_denied) << server_ec.message();
  EXPECT_EQ(client_ec, std::errc::permission_denied) << client_ec.message();
}

}  // namespace
