// channel::post() / flush(): sending without waiting, for event loops — the
// outgoing queue, its bound, its order with send(), and a poller-driven loop.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"
#include "pipekit/poller.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::channel;

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
constexpr auto test_time = 60s;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 17 + i / 1013) & 0xff);
  return s;
}

TEST(channel_post, post_returns_at_once_and_flush_delivers_the_rest) {
  auto [r, w] = pipekit::channel_pair(false);  // a pipe of 1 MiB; nobody reads yet
  const std::string big = pattern(8 * mib, 1);
  const auto start = pipekit::clock::now();
  std::error_code ec;
  w.post(big, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_LT(pipekit::clock::now() - start, 10s);  // did not wait for a reader (it would wait forever)
  EXPECT_GT(w.pending_outgoing(), 0u);
  EXPECT_LE(w.pending_outgoing(), big.size() + 4);
  std::string got;
  std::thread reader([&] { EXPECT_TRUE(r.recv(got, pipekit::after(test_time))); });
  EXPECT_TRUE(w.flush(pipekit::after(test_time), ec)) << ec.message();
  EXPECT_EQ(w.pending_outgoing(), 0u);
  reader.join();
  EXPECT_TRUE(got == big);
}

TEST(channel_post, flush_with_a_deadline_times_out_and_keeps_the_rest) {
  auto [r, w] = pipekit::channel_pair(false);
  w.post(pattern(4 * mib, 2));
  const std::size_t before = w.pending_outgoing();
  ASSERT_GT(before, 0u);
  std::error_code ec;
  EXPECT_FALSE(w.flush(pipekit::after(100ms), ec));
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(w.pending_outgoing(), before);  // nobody read: nothing more went out
  EXPECT_TRUE(w.can_send());                // a timed-out flush does not break the channel
  std::string got;
  std::thread reader([&] { EXPECT_TRUE(r.recv(got, pipekit::after(test_time))); });
  EXPECT_TRUE(w.flush(pipekit::after(test_time), ec)) << ec.message();
  reader.join();
  EXPECT_TRUE(got == pattern(4 * mib, 2));
}

TEST(channel_post, send_after_post_keeps_the_order) {
  auto [a, b] = pipekit::channel_pair();
  a.post(pattern(6 * mib, 3));
  a.post("second");
  std::vector<std::string> got;
  std::thread reader([&] {
    std::string m;
    while (got.size() < 3 && b.recv(m, pipekit::after(test_time))) got.push_back(m);
  });
  a.send("third", pipekit::after(test_time));  // flushes the queue first
  EXPECT_EQ(a.pending_outgoing(), 0u);
  reader.join();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[0] == pattern(6 * mib, 3));
  EXPECT_EQ(got[1], "second");
  EXPECT_EQ(got[2], "third");
}

TEST(channel_post, the_queue_bound_refuses_a_message_whole) {
  pipekit::channel_options o;
  o.max_queued_outgoing = 2 * mib;
  auto [r, w] = pipekit::channel_pair(false, o);
  std::error_code ec;
  std::size_t accepted = 0;
  while (accepted < 64) {
    w.post(pattern(512 * kib, static_cast<unsigned>(accepted)), ec);
    if (ec) break;
    ++accepted;
  }
  ASSERT_EQ(ec, std::errc::operation_would_block);
  const std::size_t pending = w.pending_outgoing();
  EXPECT_LE(pending, o.max_queued_outgoing);
  // Everything accepted arrives, whole and in order; the refused one never.
  std::thread flusher([&] {
    std::error_code fec;
    EXPECT_TRUE(w.flush(pipekit::after(test_time), fec)) << fec.message();
    w.close_send();
  });
  std::string m;
  std::size_t received = 0;
  while (r.recv(m, pipekit::after(test_time))) {
    EXPECT_TRUE(m == pattern(512 * kib, static_cast<unsigned>(received))) << "message " << received;
    ++received;
  }
  flusher.join();
  EXPECT_EQ(received, accepted);
}

TEST(channel_post, close_with_queued_messages_reports_that_they_were_dropped) {
  auto [r, w] = pipekit::channel_pair(false);
  w.post(pattern(4 * mib, 4));
  ASSERT_GT(w.pending_outgoing(), 0u);
  std::error_code ec;
  w.close(ec);
  EXPECT_EQ(ec, std::errc::operation_canceled);
  EXPECT_EQ(w.pending_outgoing(), 0u);
}

TEST(channel_post, a_poller_driven_loop_sends_everything_without_blocking) {
  auto [a, b] = pipekit::channel_pair();
  constexpr int count = 200;
  const auto message = [](int i) { return std::to_string(i) + ":" + pattern(64 * kib, static_cast<unsigned>(i)); };
  std::thread receiver([&] {
    std::string m;
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(b.recv(m, pipekit::after(test_time)));
      ASSERT_TRUE(m == message(i)) << "message " << i;
    }
  });
  pipekit::poller p;
  p.add(a.write_handle(), pipekit::events::none, 1);
  int next = 0;
  bool watching = false;
  const pipekit::deadline give_up = pipekit::after(test_time);
  while ((next < count || a.pending_outgoing() > 0) && pipekit::clock::now() < give_up) {
    std::error_code ec;
    // Post until the queue holds something, as a loop with work to do would.
    while (next < count && a.pending_outgoing() == 0) {
      a.post(message(next++), ec);
      ASSERT_FALSE(ec) << ec.message();
    }
    if (a.pending_outgoing() == 0) continue;  // all of it went out at once
    if (!watching) {
      p.modify(a.write_handle(), pipekit::events::writable, 1);
      watching = true;
    }
    pipekit::poll_event ev[1];
    if (p.wait(ev, pipekit::after(5s)) == 1) {
      a.flush(pipekit::clock::now(), ec);
      ASSERT_TRUE(!ec || ec == std::errc::timed_out) << ec.message();
    }
    if (a.pending_outgoing() == 0 && watching) {
      p.modify(a.write_handle(), pipekit::events::none, 1);
      watching = false;
    }
  }
  EXPECT_EQ(next, count);
  EXPECT_EQ(a.pending_outgoing(), 0u);
  receiver.join();
}

TEST(channel_post, post_on_a_closed_channel_is_bad_file_descriptor) {
  channel c;
  std::error_code ec;
  c.post("x", ec);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
  EXPECT_FALSE(c.flush(pipekit::clock::now(), ec));
  EXPECT_EQ(c.pending_outgoing(), 0u);
}

}  // namespace
