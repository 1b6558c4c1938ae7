// Local servers on POSIX only: Unix socket files (stale ones, their modes,
// path lengths), descriptors a peer attaches, a message that does not fit
// the buffer. The cases both systems share are in test_local.cpp.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "helpers/local_fixture.hpp"
#include "pipekit/error.hpp"
#include "pipekit/local.hpp"

namespace {

using namespace std::chrono_literals;
using namespace pipekit_test;
namespace fs = std::filesystem;

unsigned file_mode(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  return st.st_mode & 07777;
}

TEST_F(local, read_some_returns_one_message_and_keeps_one_that_does_not_fit) {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  auto server = pipekit::local_server::listen(path(), o);
  auto client = pipekit::connect_local(path(), pipekit::local_mode::messages, pipekit::after(5s));
  auto conn = server.accept(pipekit::after(5s));
  client.send("ab");
  client.send("cd");
  client.send("a longer message");
  char buf[8];
  std::error_code ec;
  EXPECT_EQ(conn.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 2u);
  EXPECT_EQ(std::string(buf, 2), "ab");
  EXPECT_EQ(conn.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 2u);
  EXPECT_EQ(std::string(buf, 2), "cd");
  // Too large for the buffer: reported, nothing lost.
  EXPECT_EQ(conn.read_some(std::as_writable_bytes(std::span(buf)), pipekit::after(5s), ec), 0u);
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_EQ(conn.recv(pipekit::after(5s)), "a longer message");
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
  EXPECT_EQ(conn.recv(pipekit::after(5s)), "x");
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
