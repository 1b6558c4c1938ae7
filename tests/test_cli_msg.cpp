// `pipekit msg send|recv`, driven as a user would: two pipekit commands, one
// and a library peer, or (POSIX only: no Python in the Wine prefix) one and
// CPython's multiprocessing.connection (tests/helpers/mp_auth_peer.py over
// Unix sockets, tests/helpers/mp_peer.py over FIFOs). The server endpoints
// are Unix sockets on POSIX and named pipes on Windows; fifo: is POSIX's,
// handle: names Windows' other endpoint (test_cli_msg_windows.cpp).
#include <gtest/gtest.h>

#ifndef _WIN32
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/auth.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/local.hpp"
#include "pipekit/process.hpp"
#ifndef _WIN32
#include "pipekit/fifo.hpp"
#endif

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto test_time = 30s;
using pipekit_test::cli_path;
#ifndef _WIN32
const std::string mp_auth_peer = PIPEKIT_SOURCE_DIR "/tests/helpers/mp_auth_peer.py";
const std::string mp_peer = PIPEKIT_SOURCE_DIR "/tests/helpers/mp_peer.py";
#endif

// Each test's files live in its own private directory.
class temp_dir : public pipekit_test::temp_dir {
 public:
  temp_dir() : pipekit_test::temp_dir("pipekit-cli-msg") {}
};

// A server's endpoint and the client's that reaches it: a Unix socket in
// `dir` on POSIX, a named pipe on Windows; `name` is what local_server takes.
struct endpoints {
  std::string listen;
  std::string connect;
  std::string name;
};

endpoints server_endpoints(const temp_dir& dir) {
#ifdef _WIN32
  (void)dir;
  const std::string name = pipekit_test::unique_name("pipekit-test-cli-msg");
  return {"pipe-listen:" + name, "pipe:" + name, name};
#else
  return {"unix-listen:" + dir.socket(), "unix:" + dir.socket(), dir.socket()};
#endif
}

// The endpoint of `h`, passed to the command as descriptor 3.
std::string inherited(pipekit::native_handle_type h) {
#ifdef _WIN32
  return "handle:" + std::to_string(reinterpret_cast<std::uintptr_t>(h));
#else
  (void)h;
  return "fd:3";
#endif
}

struct finished {
  int code;
  std::string out;
  std::string err;
};

pipekit::process start(pipekit::command cmd) {
  cmd.kill_on_parent_death();
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
  return cmd.spawn();
}

pipekit::process start_cli(const std::vector<std::string>& args) {
  pipekit::command c{cli_path};
  c.args(args);
  return start(std::move(c));
}

#ifndef _WIN32
pipekit::process start_python(const std::vector<std::string>& args) {
  pipekit::command c{"python3", mp_auth_peer};
  c.args(args);
  return start(std::move(c));
}

pipekit::process start_mp_peer(const std::vector<std::string>& args) {
  pipekit::command c{"python3", mp_peer};
  c.args(args);
  return start(std::move(c));
}
#endif

finished finish(pipekit::process& p, std::string_view input = {}) {
  auto r = p.communicate(input, pipekit::after(test_time));
  const pipekit::exit_status st = p.wait();
  EXPECT_FALSE(st.was_signaled()) << st.to_string() << "\nstderr: " << r.err;
  return {st.code().value_or(-1), r.out, r.err};
}

finished run_cli(const std::vector<std::string>& args, std::string_view input = {}) {
  auto p = start_cli(args);
  return finish(p, input);
}

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

#ifndef _WIN32
// The same bytes as pattern() in tests/helpers/mp_peer.py.
std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i + seed) % 251);
  return s;
}

// Waits (boundedly) for `creator`, a `msg ... fifo:PATH`, to have created PATH.
void wait_for_path(const std::string& path, pipekit::process& creator) {
  const auto until = pipekit::after(test_time);
  while (!fs::exists(fs::symlink_status(path)) && pipekit::clock::now() < until) {
    if (const auto st = creator.try_wait())
      FAIL() << "pipekit ended first, " << st->to_string() << ": " << creator.err().read_to_end();
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(fs::exists(fs::symlink_status(path))) << path << " was not created";
}

bool is_owner_only_fifo(const std::string& path) {
  const fs::file_status st = fs::symlink_status(path);
  return st.type() == fs::file_type::fifo && st.permissions() == (fs::perms::owner_read | fs::perms::owner_write);
}

class scoped_umask {
 public:
  explicit scoped_umask(mode_t m) : old_(::umask(m)) {}
  scoped_umask(const scoped_umask&) = delete;
  scoped_umask& operator=(const scoped_umask&) = delete;
  ~scoped_umask() { ::umask(old_); }

 private:
  mode_t old_;
};
#endif

// The sender waits (--timeout) for the receiver's socket to appear.
std::vector<std::string> with_key(std::vector<std::string> args, const char* key) {
  if (key != nullptr) args.insert(args.end(), {"--authkey", key});
  return args;
}

void pipekit_to_pipekit(const char* recv_key, const char* send_key, finished& receiver, finished& sender,
                        std::string_view input) {
  temp_dir dir;
  const endpoints ep = server_endpoints(dir);
  auto r = start_cli(with_key({"msg", "recv", ep.listen, "--timeout", "30"}, recv_key));
  auto s = start_cli(with_key({"msg", "send", ep.connect, "--timeout", "30"}, send_key));
  sender = finish(s, input);
  receiver = finish(r);
}

TEST(cli_msg, recv_on_unix_listen_prints_each_line_that_send_on_unix_sent) {
  finished r{}, s{};
  pipekit_to_pipekit(nullptr, nullptr, r, s, "one\n\nthree\nno newline");
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "one\n\nthree\nno newline\n");
}

TEST(cli_msg, the_same_with_an_authkey) {
  finished r{}, s{};
  pipekit_to_pipekit("secret", "secret", r, s, "one\ntwo\n");
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\n");
}

TEST(cli_msg, a_wrong_authkey_fails_on_both_sides_with_a_clear_message) {
  finished r{}, s{};
  pipekit_to_pipekit("secret", "wrong", r, s, "one\n");
  EXPECT_EQ(s.code, 1);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(s.err, "authentication failed")) << s.err;
  EXPECT_TRUE(has(r.err, "authentication failed")) << r.err;
#ifdef _WIN32
  EXPECT_TRUE(has(r.err, "ermission")) << r.err;  // and the system's own word for it
#endif
  EXPECT_EQ(r.out, "");
}

#ifndef _WIN32  // Python peer
TEST(cli_msg, a_python_client_with_the_key_sends_to_msg_recv) {
  temp_dir dir;
  auto r = start_cli({"msg", "recv", "unix-listen:" + dir.socket(), "--authkey", "secret", "--timeout", "30"});
  // Python's Client does not wait for the socket: wait for it here.
  const auto until = pipekit::after(test_time);
  while (!fs::exists(dir.socket()) && pipekit::clock::now() < until) std::this_thread::sleep_for(10ms);
  auto p = start_python({"client", dir.socket(), "secret", "send", "from python", "", "bye"});
  const finished py = finish(p);
  const finished got = finish(r);
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, "from python\n\nbye\n");
}
#endif

#ifndef _WIN32  // Python peer
TEST(cli_msg, a_python_client_with_a_wrong_key_is_refused_by_msg_recv) {
  temp_dir dir;
  auto r = start_cli({"msg", "recv", "unix-listen:" + dir.socket(), "--authkey", "secret", "--timeout", "30"});
  const auto until = pipekit::after(test_time);
  while (!fs::exists(dir.socket()) && pipekit::clock::now() < until) std::this_thread::sleep_for(10ms);
  auto p = start_python({"client", dir.socket(), "wrong", "send", "x"});
  const finished py = finish(p);
  const finished got = finish(r);
  EXPECT_EQ(py.code, 3) << py.err;
  EXPECT_TRUE(has(py.err, "AuthenticationError")) << py.err;
  EXPECT_EQ(got.code, 1);
  EXPECT_TRUE(has(got.err, "authentication failed")) << got.err;
}
#endif

#ifndef _WIN32  // Python peer
TEST(cli_msg, msg_send_with_the_key_reaches_a_python_listener) {
  temp_dir dir;
  auto p = start_python({"listen", dir.socket(), "secret", "recv", "2"});
  auto s = start_cli({"msg", "send", "unix:" + dir.socket(), "--authkey", "secret", "--timeout", "30"});
  const finished sent = finish(s, "to python\nsecond\n");
  const finished py = finish(p);
  EXPECT_EQ(sent.code, 0) << sent.err;
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out, "to python\nsecond\n");
}
#endif

#ifndef _WIN32  // Python peer
TEST(cli_msg, msg_send_with_a_wrong_key_is_refused_by_a_python_listener) {
  temp_dir dir;
  auto p = start_python({"listen", dir.socket(), "secret", "recv", "1"});
  auto s = start_cli({"msg", "send", "unix:" + dir.socket(), "--authkey", "wrong", "--timeout", "30"});
  const finished sent = finish(s, "x\n");
  const finished py = finish(p);
  EXPECT_EQ(sent.code, 1);
  EXPECT_TRUE(has(sent.err, "authentication failed")) << sent.err;
  EXPECT_EQ(py.code, 3) << py.err;
}
#endif

#ifndef _WIN32  // Python peer
TEST(cli_msg, recv_count_stops_after_n_messages) {
  temp_dir dir;
  auto r = start_cli({"msg", "recv", "unix-listen:" + dir.socket(), "--count", "2", "--timeout", "30"});
  const auto until = pipekit::after(test_time);
  while (!fs::exists(dir.socket()) && pipekit::clock::now() < until) std::this_thread::sleep_for(10ms);
  auto p = start_python({"client", dir.socket(), "-", "send", "a", "b", "c"});
  (void)finish(p);  // it may or may not see us close before its last send
  const finished got = finish(r);
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, "a\nb\n");
}
#endif

TEST(cli_msg, recv_count_reports_a_peer_that_closed_early) {
  finished r{}, s{};
  temp_dir dir;
  const endpoints ep = server_endpoints(dir);
  auto rp = start_cli({"msg", "recv", ep.listen, "--count", "3", "--timeout", "30"});
  auto sp = start_cli({"msg", "send", ep.connect, "--timeout", "30"});
  s = finish(sp, "only one\n");
  r = finish(rp);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "only one\n");
  EXPECT_TRUE(has(r.err, "1 of 3")) << r.err;
}

TEST(cli_msg, send_and_recv_on_inherited_descriptors) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command c{cli_path, "msg", "recv", inherited(theirs.native_handle())};
  c.pass_handle(theirs.native_handle(), 3);
  auto r = start(std::move(c));
  theirs.close();
  mine.send("over fd");
  mine.close();
  const finished got = finish(r);
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, "over fd\n");

  auto [mine2, theirs2] = pipekit::channel_pair();
  pipekit::command c2{cli_path, "msg", "send", inherited(theirs2.native_handle())};
  c2.pass_handle(theirs2.native_handle(), 3);
  auto s = start(std::move(c2));
  theirs2.close();
  const finished sent = finish(s, "x\ny\n");
  EXPECT_EQ(sent.code, 0) << sent.err;
  std::string m;
  ASSERT_TRUE(mine2.recv(m, pipekit::after(test_time)));
  EXPECT_EQ(m, "x");
  ASSERT_TRUE(mine2.recv(m, pipekit::after(test_time)));
  EXPECT_EQ(m, "y");
  EXPECT_FALSE(mine2.recv(m, pipekit::after(test_time)));
}

// `pipekit msg recv ARGS fd:3` with the other end of a channel pair as fd 3;
// `messages` are sent on it first.
finished recv_from(const std::vector<std::string>& args, const std::vector<std::string>& messages) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command c{cli_path, "msg", "recv", inherited(theirs.native_handle())};
  c.args(args);
  c.pass_handle(theirs.native_handle(), 3);
  auto r = start(std::move(c));
  theirs.close();
  for (const auto& m : messages) mine.send(m);
  mine.close();
  return finish(r);
}

// `pipekit msg send ARGS fd:3` with `input`; what arrived on the channel.
finished send_to(const std::vector<std::string>& args, std::string_view input, std::vector<std::string>& got) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command c{cli_path, "msg", "send", inherited(theirs.native_handle())};
  c.args(args);
  c.pass_handle(theirs.native_handle(), 3);
  auto s = start(std::move(c));
  theirs.close();
  const finished sent = finish(s, input);
  std::string m;
  while (mine.recv(m, pipekit::after(test_time))) got.push_back(m);
  return sent;
}

TEST(cli_msg, recv_null_ends_each_message_with_nul_so_newlines_stay_unambiguous) {
  const finished r = recv_from({"-0"}, {"one\ntwo", "", "three"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("one\ntwo\0\0three\0", 15));
  EXPECT_EQ(recv_from({"--null"}, {"x"}).out, std::string("x\0", 2));
}

TEST(cli_msg, recv_null_refuses_a_message_holding_a_nul_and_names_it) {
  const finished r = recv_from({"-0"}, {"fine", std::string("bad\0byte", 8), "never"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, std::string("fine\0", 5));
  EXPECT_TRUE(has(r.err, "message 2 contains a NUL byte")) << r.err;
  EXPECT_TRUE(has(r.err, "--netstring")) << r.err;
}

TEST(cli_msg, recv_netstring_writes_each_message_length_prefixed) {
  const std::string nul_inside("a\0b", 3);
  const finished r = recv_from({"--netstring"}, {"one\ntwo", "", nul_inside, "3:,"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "7:one\ntwo,0:,3:" + nul_inside + ",3:3:,,");
}

TEST(cli_msg, send_reads_nul_terminated_records_and_netstrings_too) {
  std::vector<std::string> got;
  finished s = send_to({"-0"}, std::string("one\ntwo\0\0last", 13), got);
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(got, (std::vector<std::string>{"one\ntwo", "", "last"}));
  got.clear();
  s = send_to({"--netstring"}, std::string("7:one\ntwo,0:,3:a\0b,", 19), got);
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(got, (std::vector<std::string>{"one\ntwo", "", std::string("a\0b", 3)}));
  // What send --netstring reads, recv --netstring writes.
  const finished r = recv_from({"--netstring"}, got);
  EXPECT_EQ(r.out, std::string("7:one\ntwo,0:,3:a\0b,", 19));
}

TEST(cli_msg, send_netstring_names_the_record_that_is_not_one_and_sends_none_of_it) {
  std::vector<std::string> got;
  const finished s = send_to({"--netstring"}, "2:ok,5:short", got);
  EXPECT_EQ(s.code, 1);
  EXPECT_TRUE(has(s.err, "netstring 2 is not a netstring")) << s.err;
  EXPECT_TRUE(has(s.err, "netstring 1 was sent before it")) << s.err;
  EXPECT_EQ(got, (std::vector<std::string>{"ok"}));
}

TEST(cli_msg, send_refuses_a_line_over_max_size_naming_it_before_sending_any_of_it) {
  std::vector<std::string> got;
  const finished s = send_to({"--max-size", "10"}, "short\n0123456789\n" + std::string(11, 'x') + "\nafter\n", got);
  EXPECT_EQ(s.code, 1);
  EXPECT_TRUE(has(s.err, "line 3 is longer than --max-size (10 bytes)")) << s.err;
  EXPECT_TRUE(has(s.err, "it and the rest of stdin were not sent")) << s.err;
  EXPECT_TRUE(has(s.err, "lines 1 to 2 were sent before it")) << s.err;
  EXPECT_EQ(got, (std::vector<std::string>{"short", "0123456789"}));
}

TEST(cli_msg, recv_refuses_a_message_over_max_size_the_same_limit_as_send) {
  const finished r = recv_from({"--max-size", "1K"}, {"small", std::string(1024, 'y'), std::string(1025, 'z')});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "small\n" + std::string(1024, 'y') + "\n");
  EXPECT_TRUE(has(r.err, "message 3 is larger than --max-size (1 KiB)")) << r.err;
  // send takes the same option, with the same meaning.
  std::vector<std::string> got;
  const finished s = send_to({"--max-size", "1K"}, std::string(1024, 'y') + "\n" + std::string(1025, 'z'), got);
  EXPECT_EQ(s.code, 1);
  EXPECT_EQ(got.size(), 1u);
}

TEST(cli_msg, recv_null_and_netstring_output_and_max_size) {
  finished got = recv_from({"-0"}, {"a\nb", "c"});
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, std::string("a\nb\0c\0", 6));
  got = recv_from({"--netstring"}, {"a\r\nb", ""});
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, "4:a\r\nb,0:,");
  got = recv_from({"--max-size", "3"}, {"abc", "abcd"});
  EXPECT_EQ(got.code, 1);
  EXPECT_EQ(got.out, "abc\n");
  EXPECT_NE(got.err.find("message 2 is larger than --max-size (3 bytes)"), std::string::npos) << got.err;
}

TEST(cli_msg, a_library_listener_with_a_key_receives_from_msg_send) {
  temp_dir dir;
  const endpoints ep = server_endpoints(dir);
  pipekit::local_server server = pipekit::local_server::listen(ep.name);
  auto send = start_cli({"msg", "send", ep.connect, "--authkey", "k", "--timeout", "30"});
  pipekit::local_connection c = server.accept(pipekit::after(60s));
  pipekit::channel ch(pipekit::handle_stream(c.release_handle()));
  pipekit::authenticate_server(ch, pipekit::as_key("k"), pipekit::after(60s));
  const finished s = finish(send, "a\nb\n");
  std::string m;
  ASSERT_TRUE(ch.recv(m, pipekit::after(60s)));
  EXPECT_EQ(m, "a");
  ASSERT_TRUE(ch.recv(m, pipekit::after(60s)));
  EXPECT_EQ(m, "b");
  EXPECT_FALSE(ch.recv(m, pipekit::after(60s)));  // the end
  EXPECT_EQ(s.code, 0) << s.err;
}

TEST(cli_msg, the_key_comes_from_authkey_file_or_the_environment_too) {
  temp_dir dir;
  const endpoints ep = server_endpoints(dir);
  const std::string key_file = dir / "key";
#ifdef _WIN32
  std::ofstream(key_file, std::ios::binary) << "secret\r\n";  // a line as a Windows editor saves it
#else
  std::ofstream(key_file) << "secret\n";  // one trailing newline, as `echo secret > key` leaves it
#endif
  for (const bool right : {true, false}) {
    SCOPED_TRACE(right ? "same key" : "different keys");
    pipekit::command rc{cli_path, "msg", "recv", ep.listen, "--authkey-file", key_file, "--timeout", "30"};
    auto r = start(std::move(rc));
    pipekit::command sc{cli_path, "msg", "send", ep.connect, "--timeout", "30"};
    sc.env("PIPEKIT_AUTHKEY", right ? "secret" : "wrong");
    auto s = start(std::move(sc));
    const finished sent = finish(s, "with a key\n");
    const finished got = finish(r);
    EXPECT_EQ(sent.code, right ? 0 : 1) << sent.err;
    EXPECT_EQ(got.code, right ? 0 : 1) << got.err;
    EXPECT_EQ(got.out, right ? "with a key\n" : "");
    if (!right) {
      EXPECT_TRUE(has(got.err, "authentication failed")) << got.err;
    }
  }
  // An endpoint that does not authenticate ignores the variable (--authkey there is an error).
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command c{cli_path, "msg", "send", inherited(theirs.native_handle())};
  c.env("PIPEKIT_AUTHKEY", "secret");
  c.pass_handle(theirs.native_handle(), 3);
  auto s = start(std::move(c));
  theirs.close();
  EXPECT_EQ(finish(s, "x\n").code, 0);
  // --authkey and --authkey-file are one or the other; a missing file is named.
  EXPECT_EQ(run_cli({"msg", "send", ep.connect, "--authkey", "a", "--authkey-file", key_file}).code, 2);
  const finished missing = run_cli({"msg", "send", ep.connect, "--authkey-file", dir / "none"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_TRUE(has(missing.err, dir / "none")) << missing.err;
}

TEST(cli_msg, a_bad_endpoint_is_a_usage_error) {
  for (const char* e : {"tcp:1234", "fd:x", "fifo:"}) {
    auto p = start_cli({"msg", "send", e});
    const finished f = finish(p);
    EXPECT_EQ(f.code, 2) << e << ": " << f.err;
    EXPECT_TRUE(has(f.err, "ENDPOINT")) << f.err;
  }
}

#ifndef _WIN32  // FIFOs
// ---- fifo:PATH ---------------------------------------------------------------------

TEST(cli_msg, send_on_a_fifo_reaches_recv_on_it_and_the_missing_fifo_is_made_owner_only) {
  temp_dir dir;
  scoped_umask um(0);  // the commands inherit it: the FIFO must not be more open than 0600 anyway
  const std::string f = dir / "f";
  // Both start on a missing path: either may create it, the other opens it.
  auto r = start_cli({"msg", "recv", "fifo:" + f, "--timeout", "30"});
  auto s = start_cli({"msg", "send", "fifo:" + f, "--timeout", "30"});
  const finished sent = finish(s, "one\n\nthree\nno newline");
  const finished got = finish(r);
  EXPECT_EQ(sent.code, 0) << sent.err;
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, "one\n\nthree\nno newline\n");
  EXPECT_TRUE(is_owner_only_fifo(f)) << "the FIFO is left in place, mode 0600";
}

TEST(cli_msg, recv_on_a_fifo_waits_for_a_writer_and_prints_what_a_python_connection_sent) {
  temp_dir dir;
  const std::string f = dir / "f";
  auto r = start_cli({"msg", "recv", "fifo:" + f});  // no --timeout: waits as long as it takes
  ASSERT_NO_FATAL_FAILURE(wait_for_path(f, r));
  std::this_thread::sleep_for(300ms);
  const auto early = r.try_wait();
  ASSERT_FALSE(early.has_value()) << "recv gave up without a writer: " << early->to_string() << "\n" << finish(r).err;
  const std::vector<std::size_t> sizes = {0, 1, 300, 1024 * 1024};
  std::vector<std::string> args = {"send", "--wfifo", f};
  std::string expected;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    args.push_back(std::to_string(sizes[i]));
    expected += pattern(sizes[i], static_cast<unsigned>(i)) + "\n";
  }
  auto p = start_mp_peer(args);
  const finished py = finish(p);
  const finished got = finish(r);
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out.size(), expected.size());
  EXPECT_TRUE(got.out == expected) << "the payloads were not copied byte for byte";
}

TEST(cli_msg, send_on_a_fifo_reaches_a_python_connection_reading_it) {
  temp_dir dir;
  const std::string f = dir / "f";
  auto s = start_cli({"msg", "send", "fifo:" + f, "--timeout", "30"});
  ASSERT_NO_FATAL_FAILURE(wait_for_path(f, s));
  auto p = start_mp_peer({"print", "--rfifo", f});
  const std::string big(1024 * 1024, 'x');  // more than a FIFO holds: partial writes
  const finished sent = finish(s, "one\n\n" + big + "\nlast");
  const finished py = finish(p);
  EXPECT_EQ(sent.code, 0) << sent.err;
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out.size(), big.size() + 11);
  EXPECT_TRUE(py.out == "one\n\n" + big + "\nlast\n") << py.out.substr(0, 100);
}

TEST(cli_msg, send_and_recv_on_a_fifo_without_a_peer_exit_124_at_the_timeout) {
  temp_dir dir;
  const std::string f = dir / "f";
  for (const char* verb : {"send", "recv"}) {
    const auto begin = pipekit::clock::now();
    const finished r = run_cli({"msg", verb, "fifo:" + f, "--timeout", "0.3"});
    const auto took = pipekit::clock::now() - begin;
    EXPECT_EQ(r.code, 124) << verb << ": " << r.err;
    EXPECT_TRUE(has(r.err, "within 0.3 s")) << r.err;
    EXPECT_TRUE(has(r.err, f)) << r.err;
    EXPECT_GE(took, 300ms) << verb;
    EXPECT_LT(took, 10s) << verb;
    EXPECT_TRUE(is_owner_only_fifo(f)) << verb;
  }
}

TEST(cli_msg, send_and_recv_on_a_fifo_refuse_a_regular_file_and_symbolic_links_naming_the_path) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  fs::create_symlink(dir / "f", dir / "link");            // would work if followed
  fs::create_symlink(dir / "missing", dir / "dangling");  // must not create its target
  std::ofstream(dir / "file") << "data\n";
  for (const char* verb : {"send", "recv"}) {
    finished r = run_cli({"msg", verb, "fifo:" + dir / "file", "--timeout", "5"}, "x\n");
    EXPECT_EQ(r.code, 1) << verb << ": " << r.err;
    EXPECT_TRUE(has(r.err, dir / "file")) << r.err;
    EXPECT_TRUE(has(r.err, "not a FIFO")) << r.err;
    for (const char* name : {"link", "dangling"}) {
      r = run_cli({"msg", verb, "fifo:" + dir / name, "--timeout", "5"}, "x\n");
      EXPECT_EQ(r.code, 1) << verb << " " << name << ": " << r.err;
      EXPECT_TRUE(has(r.err, dir / name)) << r.err;
      EXPECT_TRUE(has(r.err, "symbolic link")) << r.err;
    }
  }
  std::ifstream file(dir / "file");
  std::string content;
  std::getline(file, content);
  EXPECT_EQ(content, "data");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "missing")));
}

TEST(cli_msg, send_and_recv_on_a_fifo_refuse_another_users_fifo) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "making a FIFO another user owns needs root (CI runs as root); the check is "
                    "the library's, tested in test_fifo";
  temp_dir dir;
  const std::string f = dir / "f";
  pipekit::create_fifo(f, 0666);
  ASSERT_EQ(::chown(f.c_str(), 65534, 65534), 0);
  for (const char* verb : {"send", "recv"}) {
    const finished r = run_cli({"msg", verb, "fifo:" + f, "--timeout", "5"}, "x\n");
    EXPECT_EQ(r.code, 1) << verb << ": " << r.err;
    EXPECT_TRUE(has(r.err, f)) << r.err;
    EXPECT_TRUE(has(r.err, "owned by another user")) << r.err;
  }
}

TEST(cli_msg, an_authkey_with_a_fifo_is_a_usage_error) {
  temp_dir dir;
  const std::string f = dir / "f";
  for (const char* verb : {"send", "recv"}) {
    const finished r = run_cli({"msg", verb, "fifo:" + f, "--authkey", "secret", "--timeout", "5"});
    EXPECT_EQ(r.code, 2) << verb << ": " << r.err;
    EXPECT_TRUE(has(r.err, "--authkey")) << r.err;
    EXPECT_TRUE(has(r.err, "one-way")) << r.err;
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(f))) << "nothing is created before the usage is checked";
}

#endif

}  // namespace

namespace {

TEST(cli_msg, no_server_or_no_client_within_the_timeout_exits_124_for_unix_endpoints) {
  temp_dir dir;
  const endpoints ep = server_endpoints(dir);
  const auto start = pipekit::clock::now();
  const finished s = run_cli({"msg", "send", ep.connect, "--timeout", "0.3"}, "x\n");
  EXPECT_EQ(s.code, 124) << s.err;
  EXPECT_TRUE(has(s.err, "timed out")) << s.err;
  const finished r = run_cli({"msg", "recv", ep.listen, "--timeout", "0.3"});
  EXPECT_EQ(r.code, 124) << r.err;
  EXPECT_TRUE(has(r.err, "no client connected to " + ep.name + " within 0.3 s")) << r.err;
  EXPECT_LT(pipekit::clock::now() - start, test_time);
}

}  // namespace
