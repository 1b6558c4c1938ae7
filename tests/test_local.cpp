// Local servers on POSIX: Unix domain sockets in byte (SOCK_STREAM) and
// message (SOCK_SEQPACKET) mode.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/local.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class local : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "pipekit-local-XXXXXX").string();
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const char* name = "s.sock") const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

unsigned file_mode(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  return st.st_mode & 07777;
}

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
    client.send_message("");
    client.send_message("x");
    client.send_message(big, pipekit::after(10s));
    client.send_message("");
    client.send_message("end");
    client.close();
  });
  std::vector<std::string> got;
  while (auto m = conn.receive_message(pipekit::after(10s))) got.push_back(*m);
  sender.join();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], "");
  EXPECT_EQ(got[1], "x");
  EXPECT_EQ(got[2].size(), big.size());
  EXPECT_TRUE(got[2] == big);  // not EXPECT_EQ: a 100 KiB diff helps nobody
  EXPECT_EQ(got[3], "");
  EXPECT_EQ(got[4], "end");
}

TEST_F(local, read_some_returns_one_message_and_keeps_one_that_does_not_fit) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  client.send_message("ab");
  client.send_message("cd");
  client.send_message("a longer message");
  char buf[8];
  std::error_code ec;
  EXPECT_EQ(conn.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 2u);
  EXPECT_EQ(std::string(buf, 2), "ab");
  EXPECT_EQ(conn.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 2u);
  EXPECT_EQ(std::string(buf, 2), "cd");
  // Too large for the buffer: reported, nothing lost.
  EXPECT_EQ(conn.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 0u);
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_EQ(conn.receive_message(pipekit::after(5s)), "a longer message");
}

TEST_F(local, large_message_through_receive_message) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  const std::string big = pattern(150 * 1024);
  std::thread t([&] { conn.send_message(big, pipekit::after(10s)); });
  auto m = client.receive_message(pipekit::after(10s));
  t.join();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size(), big.size());
  EXPECT_TRUE(*m == big);
}

TEST_F(local, receive_message_is_refused_in_byte_mode) {
  auto server = pipekit::local_server::listen(path());
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  std::error_code ec;
  EXPECT_FALSE(client.receive_message(pipekit::after(1s), ec));
  EXPECT_EQ(ec, pipekit::errc::not_supported);
}

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
          c.send_message(text);
          if (c.receive_message(pipekit::after(10s)) == text + " ok") ++ok;
        } else {
          c.write_all(text);
          c.close();
          ++ok;
        }
      });
    }
    std::vector<std::string> seen;
    std::vector<pipekit::local_connection> conns;
    for (int i = 0; i < clients; ++i) conns.push_back(server.accept(pipekit::after(10s)));
    for (auto& c : conns) {
      std::error_code ec;
      if (mode == pipekit::local_mode::messages) {
        auto m = c.receive_message(pipekit::after(10s), ec);
        ASSERT_TRUE(m) << ec.message();
        seen.push_back(*m);
        c.send_message(*m + " ok");
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

TEST_F(local, stale_socket_refuses_without_deadline_and_is_replaced_by_listen) {
  { auto s = pipekit::local_server::listen(path()); }
  EXPECT_FALSE(fs::exists(path()));  // the destructor removed it
  // Make a stale socket file: link a bound socket there and close it.
  {
    auto s = pipekit::local_server::listen(path("tmp.sock"));
    ASSERT_EQ(::link(path("tmp.sock").c_str(), path().c_str()), 0);
  }
  ASSERT_TRUE(fs::is_socket(path()));
  std::error_code ec;
  auto c = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::no_deadline, ec);
  EXPECT_EQ(ec, std::errc::connection_refused);
  auto server = pipekit::local_server::listen(path());
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  EXPECT_TRUE(server.accept(pipekit::after(5s)).is_open());
}

TEST_F(local, refuses_a_live_socket_and_a_regular_file) {
  auto server = pipekit::local_server::listen(path());
  std::error_code ec;
  auto second = pipekit::local_server::listen(path(), {}, ec);
  EXPECT_EQ(ec, std::errc::address_in_use);
  std::ofstream(path("file")) << "keep me";
  auto third = pipekit::local_server::listen(path("file"), {}, ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  std::ifstream in(path("file"));
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "keep me");
  EXPECT_THROW((void)pipekit::local_server::listen(path("file")), std::system_error);
}

TEST_F(local, permissions_default_0600_and_explicit) {
  const mode_t old = ::umask(0);  // the mode must not depend on the umask
  auto a = pipekit::local_server::listen(path("a.sock"));
  pipekit::listen_options o;
  o.permissions = 0660;
  auto b = pipekit::local_server::listen(path("b.sock"), o);
  ::umask(old);
  EXPECT_EQ(file_mode(path("a.sock")), 0600u);
  EXPECT_EQ(file_mode(path("b.sock")), 0660u);
  // No temporary directory is left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 2);
}

TEST_F(local, too_long_a_path) {
  std::error_code ec;
  auto s = pipekit::local_server::listen(path() + std::string(200, 'x'), {}, ec);
  EXPECT_EQ(ec, std::errc::filename_too_long);
}

TEST_F(local, every_path_length_the_os_accepts_works_up_to_107_bytes) {
  // sun_path holds 108 bytes with the terminating NUL; the temporary bind
  // path pipekit uses is longer than the user's, which must not matter.
  for (const std::size_t length : {90u, 96u, 100u, 107u}) {
    const std::string base = dir_.string() + "/";
    ASSERT_LT(base.size() + 8, length);
    const std::string name = base + std::string(length - base.size() - 5, 'p') + ".sock";
    ASSERT_EQ(name.size(), length);
    std::error_code ec;
    auto server = pipekit::local_server::listen(name, {}, ec);
    ASSERT_FALSE(ec) << length << " bytes: " << ec.message();
    EXPECT_EQ(file_mode(name), 0600u);
    auto client = pipekit::connect_local(name, pipekit::local_mode::bytes, pipekit::after(5s));
    auto accepted = server.accept(pipekit::after(5s));
    client.write_all("x");
    std::byte b[1];
    EXPECT_EQ(accepted.read_some(b), 1u);
  }
  // One more than the OS accepts is still refused.
  std::error_code ec;
  const std::string base = dir_.string() + "/";
  auto s = pipekit::local_server::listen(base + std::string(108 - base.size(), 'q'), {}, ec);
  EXPECT_EQ(ec, std::errc::filename_too_long);
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
      ASSERT_TRUE(p.uid);
      EXPECT_EQ(*p.pid, ::getpid());
      EXPECT_EQ(*p.uid, ::geteuid());
    }
  }
}

TEST_F(local, mode_mismatch_is_an_error) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  std::error_code ec;
  auto c = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(1s), ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(c.is_open());
}

TEST_F(local, send_to_a_closed_peer_is_broken_pipe) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  server.accept(pipekit::after(5s)).close();
  std::error_code ec;
  client.send_message("x", pipekit::after(1s), ec);
  EXPECT_EQ(ec, std::errc::broken_pipe);
  EXPECT_EQ(client.receive_message(pipekit::after(1s), ec), std::nullopt);
}

TEST_F(local, receive_message_times_out_without_losing_anything) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  std::error_code ec;
  EXPECT_FALSE(conn.receive_message(pipekit::after(50ms), ec));
  EXPECT_EQ(ec, std::errc::timed_out);
  client.send_message("later");
  EXPECT_EQ(conn.receive_message(pipekit::after(5s)), "later");
}

TEST_F(local, descriptors_a_peer_attaches_do_not_leak) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  auto count_fds = [] {
    int n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const int before = count_fds();
  // A message carrying a descriptor (SCM_RIGHTS), as a hostile peer might send.
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = 0;
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ASSERT_EQ(::sendmsg(client.native_handle(), &msg, 0), 1);
  EXPECT_EQ(conn.receive_message(pipekit::after(5s)), "x");
  EXPECT_EQ(count_fds(), before);
}

TEST_F(local, poll_handle_is_readable_when_a_client_waits) {
  auto server = pipekit::local_server::listen(path());
  pollfd p{server.native_handle(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(5s));
  EXPECT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_TRUE(server.accept(pipekit::after(5s)).is_open());
  server.close();
  EXPECT_FALSE(server.is_open());
  EXPECT_FALSE(fs::exists(path()));
  std::error_code ec;
  (void)server.accept(pipekit::after(1s), ec);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
}

}  // namespace
