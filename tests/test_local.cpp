// Local servers on both systems: Unix domain sockets in byte (SOCK_STREAM)
// and message (SOCK_SEQPACKET) mode on POSIX, named-pipe instances on
// Windows (under Wine in CI). What only one system has (socket files and
// their modes, pipe security) is in test_local_posix.cpp and
// test_local_windows.cpp.
#include <gtest/gtest.h>

#include "pipekit/local.hpp"

#ifndef _WIN32
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "helpers/local_fixture.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"

namespace {

using namespace std::chrono_literals;
using namespace pipekit_test;

TEST_F(local, bytes_round_trip_and_eof) {
  auto server = pipekit::local_server::listen(path());
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  EXPECT_EQ(client.write_all("hello"), 5u);
  char buf[16];
  std::error_code ec;
  std::size_t n = conn.read_exact(std::as_writable_bytes(std::span(buf, 5)), pipekit::after(5s), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, n), "hello");
  conn.write_all("back");
  n = client.read_exact(std::as_writable_bytes(std::span(buf, 4)), pipekit::after(5s), ec);
  EXPECT_EQ(std::string(buf, n), "back");
  client.close();  // now end of stream on the server
  EXPECT_EQ(conn.read_to_end(pipekit::after(5s), ec), "");
  EXPECT_FALSE(ec);
  // And the other way, the server's end closing; on Windows through the
  // full "\\.\pipe\" form, which names the same pipe.
#ifdef _WIN32
  const std::string full = "\\\\.\\pipe\\" + path();
#else
  const std::string full = path();
#endif
  auto client2 = pipekit::connect_local(full, pipekit::local_mode::bytes, pipekit::after(5s));
  auto conn2 = server.accept(pipekit::after(5s));
  conn2.write_all("back");
  conn2.close();
  EXPECT_EQ(client2.read_to_end(pipekit::after(5s), ec), "back");
  EXPECT_FALSE(ec);
}

TEST_F(local, bytes_is_duplex) {
  auto server = pipekit::local_server::listen(path());
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  conn.write_all("from server");
  client.write_all("from client");
  std::error_code ec;
  char buf[11];
  client.read_exact(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec);
  EXPECT_EQ(std::string(buf, 11), "from server");
  conn.read_exact(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec);
  EXPECT_EQ(std::string(buf, 11), "from client");
}

TEST_F(local, message_boundaries_kept_for_0_1_and_100k_bytes) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  EXPECT_EQ(server.mode(), pipekit::local_mode::messages);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  const std::string big = pattern(100 * 1024);
  std::thread sender([&] {
    client.send("");
    client.send("x");
    client.send(big, pipekit::after(10s));
    client.send("");
    client.send("end");
    client.close();
  });
  std::vector<std::string> got;
  while (auto m = conn.recv(pipekit::after(10s))) got.push_back(*m);
  sender.join();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], "");
  EXPECT_EQ(got[1], "x");
  EXPECT_EQ(got[2].size(), big.size());
  EXPECT_TRUE(got[2] == big);  // not EXPECT_EQ: a 100 KiB diff helps nobody
  EXPECT_EQ(got[3], "");
  EXPECT_EQ(got[4], "end");
}

TEST_F(local, message_boundaries_with_two_clients_at_once) {
  const std::string name = path();
  auto server = pipekit::local_server::listen(name, messages());
  const std::string big = pattern(100 * 1024);
  auto send_all = [&](int id) {
    auto c = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(10s));
    c.send("");
    c.send(std::to_string(id));
    c.send(big, pipekit::after(10s));
    c.send("end " + std::to_string(id));
  };
  std::thread a(send_all, 1);
  std::thread b(send_all, 2);
  auto c1 = server.accept(pipekit::after(10s));
  auto c2 = server.accept(pipekit::after(10s));
  std::vector<std::string> ids;
  for (auto* c : {&c1, &c2}) {
    std::vector<std::string> got;
    std::error_code ec;
    while (auto m = c->recv(pipekit::after(10s), ec)) got.push_back(*m);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0], "");
    EXPECT_EQ(got[2].size(), big.size());
    EXPECT_TRUE(got[2] == big);  // not EXPECT_EQ: a 100 KiB diff helps nobody
    EXPECT_EQ(got[3], "end " + got[1]);
    ids.push_back(got[1]);
  }
  a.join();
  b.join();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2"}));
}

TEST_F(local, large_message_through_recv) {
  const std::string name = path();
  auto server = pipekit::local_server::listen(name, messages());
  auto client = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
#ifdef _WIN32
  const std::string big = pattern(300 * 1024);  // several times the pipe buffer and the first read
#else
  const std::string big = pattern(150 * 1024);  // a SOCK_SEQPACKET message must fit the socket's send buffer
#endif
  std::thread t([&] { conn.send(big, pipekit::after(20s)); });
  auto m = client.recv(pipekit::after(20s));
  t.join();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size(), big.size());
  EXPECT_TRUE(*m == big);
}

TEST_F(local, recv_is_refused_in_byte_mode) {
  auto server = pipekit::local_server::listen(path());
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  std::error_code ec;
  EXPECT_FALSE(client.recv(pipekit::after(1s), ec));
  EXPECT_EQ(ec, pipekit::errc::not_supported);
}

TEST_F(local, byte_mode_refuses_message_calls_and_mismatched_client) {
  const std::string name = path();
  auto server = pipekit::local_server::listen(name);
  auto client = pipekit::connect_local(name, pipekit::local_mode::bytes, pipekit::after(5s));
  std::error_code ec;
  client.send("x", pipekit::after(1s), ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  (void)server.accept(pipekit::after(5s));
  // A message-mode client cannot read a byte-mode server as messages.
  auto wrong = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(5s), ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(wrong.is_open());
}

// POSIX only: Windows lets a byte-mode client read a message pipe as a
// stream; the reverse is refused there too (byte_mode_refuses_...).
#ifndef _WIN32
TEST_F(local, mode_mismatch_is_an_error) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  std::error_code ec;
  auto c = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(1s), ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(c.is_open());
}
#endif

// On Windows this caught accept() failing with ERROR_NO_DATA for a
// byte-mode client that connected, wrote and closed before it was accepted
// (its data was lost): such a client is a connection too.
TEST_F(local, several_clients_at_once) {
  for (auto mode : {pipekit::local_mode::bytes, pipekit::local_mode::messages}) {
    pipekit::listen_options o;
    o.mode = mode;
    const std::string p = path(mode == pipekit::local_mode::bytes ? "b.sock" : "m.sock");
    auto server = pipekit::local_server::listen(p, o);
    constexpr int clients = 8;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        auto c = pipekit::connect_local(p, mode, pipekit::after(10s));
        const std::string text = "client " + std::to_string(i);
        if (mode == pipekit::local_mode::messages) {
          c.send(text);
          if (c.recv(pipekit::after(10s)) == text + " ok") ++ok;
        } else {
          c.write_all(text);
          c.close();
          ++ok;
        }
      });
    }
    std::vector<std::string> seen;
    std::vector<pipekit::local_connection> conns;
    for (int i = 0; i < clients; ++i) {
      std::error_code ec;  // not the throwing form: the client threads must still be joined
      conns.push_back(server.accept(pipekit::after(10s), ec));
      EXPECT_FALSE(ec) << "accept " << i << ": " << ec.message();
    }
    for (auto& c : conns) {
      std::error_code ec;
      if (mode == pipekit::local_mode::messages) {
        auto m = c.recv(pipekit::after(10s), ec);
        ASSERT_TRUE(m) << ec.message();
        seen.push_back(*m);
        c.send(*m + " ok");
      } else {
        seen.push_back(c.read_to_end(pipekit::after(10s), ec));
        EXPECT_FALSE(ec);
      }
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), clients);
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i < clients; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], "client " + std::to_string(i));
  }
}

TEST_F(local, accept_times_out_and_server_stays_usable) {
  auto server = pipekit::local_server::listen(path());
  const auto start = pipekit::clock::now();
  std::error_code ec;
  auto c = server.accept(pipekit::after(100ms), ec);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(ec, pipekit::errc::timed_out);
  EXPECT_FALSE(c.is_open());
  EXPECT_GE(pipekit::clock::now() - start, 90ms);
  EXPECT_THROW((void)server.accept(pipekit::after(10ms)), std::system_error);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  EXPECT_TRUE(server.accept(pipekit::after(5s)).is_open());
  // The same for a message-mode server.
  const std::string name = path("m");
  auto message_server = pipekit::local_server::listen(name, messages());
  const auto start2 = pipekit::clock::now();
  auto none2 = message_server.accept(pipekit::after(100ms), ec);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_FALSE(none2.is_open());
  EXPECT_GE(pipekit::clock::now() - start2, 90ms);
  auto client2 = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(5s));
  auto conn2 = message_server.accept(pipekit::after(5s));
  client2.send("after the timeout");
  EXPECT_EQ(conn2.recv(pipekit::after(5s)), "after the timeout");
}

TEST_F(local, connect_without_server) {
  std::error_code ec;
  // No deadline: at once.
  auto c = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::no_deadline, ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  // A deadline: waits for the server until then.
  const auto start = pipekit::clock::now();
  c = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(150ms), ec);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(pipekit::clock::now() - start, 140ms);
}

TEST_F(local, connect_waits_for_a_server_that_comes_later) {
  std::thread late([&] {
    std::this_thread::sleep_for(100ms);
    auto server = pipekit::local_server::listen(path());
    auto conn = server.accept(pipekit::after(5s));
    conn.write_all("hi");
  });
  auto c = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  std::error_code ec;
  EXPECT_EQ(c.read_to_end(pipekit::after(5s), ec), "hi");
  late.join();
}

TEST_F(local, peer_credentials_are_ours) {
  for (auto mode : {pipekit::local_mode::bytes, pipekit::local_mode::messages}) {
    pipekit::listen_options o;
    o.mode = mode;
    auto server = pipekit::local_server::listen(path(mode == pipekit::local_mode::bytes ? "b" : "m"), o);
    auto client =
        pipekit::connect_local(path(mode == pipekit::local_mode::bytes ? "b" : "m"), mode, pipekit::after(5s));
    auto conn = server.accept(pipekit::after(5s));
    for (auto* c : {&client, &conn}) {
      const pipekit::peer_credentials p = c->peer();
      ASSERT_TRUE(p.pid);
      EXPECT_EQ(*p.pid, static_cast<std::int64_t>(current_pid()));
#ifdef _WIN32
      EXPECT_FALSE(p.uid);  // Windows has SIDs, not uids
#else
      ASSERT_TRUE(p.uid);
      EXPECT_EQ(*p.uid, ::geteuid());
#endif
    }
  }
}

TEST_F(local, send_to_a_closed_peer_is_broken_pipe) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  server.accept(pipekit::after(5s)).close();
  std::error_code ec;
  client.send("x", pipekit::after(1s), ec);
  EXPECT_EQ(ec, std::errc::broken_pipe);
  EXPECT_EQ(client.recv(pipekit::after(1s), ec), std::nullopt);
}

TEST_F(local, eof_and_broken_pipe_when_the_peer_closes) {
  const std::string name = path();
  auto server = pipekit::local_server::listen(name, messages());
  auto client = pipekit::connect_local(name, pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  client.send("last");
  client.close();
  std::error_code ec;
  EXPECT_EQ(conn.recv(pipekit::after(5s), ec), "last");
  EXPECT_EQ(conn.recv(pipekit::after(5s), ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  conn.send("x", pipekit::after(1s), ec);
  EXPECT_EQ(ec, std::errc::broken_pipe);
}

TEST_F(local, recv_times_out_without_losing_anything) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  std::error_code ec;
  EXPECT_FALSE(conn.recv(pipekit::after(50ms), ec));
  EXPECT_EQ(ec, std::errc::timed_out);
  client.send("later");
  EXPECT_EQ(conn.recv(pipekit::after(5s)), "later");
}

}  // namespace
