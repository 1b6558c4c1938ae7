// `pipekit msg send|recv`, driven as a user would: two pipekit commands, or
// one and CPython's multiprocessing.connection (tests/helpers/mp_auth_peer.py).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto test_time = 30s;
const std::string cli_path = PIPEKIT_CLI_PATH;
const std::string mp_auth_peer = PIPEKIT_SOURCE_DIR "/tests/helpers/mp_auth_peer.py";

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "pipekit-cli-msg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string socket() const { return (path_ / "s").string(); }

 private:
  fs::path path_;
};

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

pipekit::process start_python(const std::vector<std::string>& args) {
  pipekit::command c{"python3", mp_auth_peer};
  c.args(args);
  return start(std::move(c));
}

finished finish(pipekit::process& p, std::string_view input = {}) {
  auto r = p.communicate(input, pipekit::after(test_time));
  const pipekit::exit_status st = p.wait();
  EXPECT_FALSE(st.was_signaled()) << st.to_string() << "\nstderr: " << r.err;
  return {st.code().value_or(-1), r.out, r.err};
}

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// The sender waits (--timeout) for the receiver's socket to appear.
std::vector<std::string> with_key(std::vector<std::string> args, const char* key) {
  if (key != nullptr) args.insert(args.end(), {"--authkey", key});
  return args;
}

void pipekit_to_pipekit(const char* recv_key, const char* send_key, finished& receiver, finished& sender,
                        std::string_view input) {
  temp_dir dir;
  auto r = start_cli(with_key({"msg", "recv", "unix-listen:" + dir.socket(), "--timeout", "30"}, recv_key));
  auto s = start_cli(with_key({"msg", "send", "unix:" + dir.socket(), "--timeout", "30"}, send_key));
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
  EXPECT_EQ(r.out, "");
}

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

TEST(cli_msg, recv_count_reports_a_peer_that_closed_early) {
  finished r{}, s{};
  temp_dir dir;
  auto rp = start_cli({"msg", "recv", "unix-listen:" + dir.socket(), "--count", "3", "--timeout", "30"});
  auto sp = start_cli({"msg", "send", "unix:" + dir.socket(), "--timeout", "30"});
  s = finish(sp, "only one\n");
  r = finish(rp);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "only one\n");
  EXPECT_TRUE(has(r.err, "1 of 3")) << r.err;
}

TEST(cli_msg, send_and_recv_on_inherited_descriptors) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command c{cli_path, "msg", "recv", "fd:3"};
  c.pass_handle(theirs.native_handle(), 3);
  auto r = start(std::move(c));
  theirs.close();
  mine.send("over fd");
  mine.close();
  const finished got = finish(r);
  EXPECT_EQ(got.code, 0) << got.err;
  EXPECT_EQ(got.out, "over fd\n");

  auto [mine2, theirs2] = pipekit::channel_pair();
  pipekit::command c2{cli_path, "msg", "send", "fd:3"};
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

TEST(cli_msg, a_bad_endpoint_is_a_usage_error) {
  for (const char* e : {"tcp:1234", "fd:x", "fifo:/tmp/nothing"}) {
    auto p = start_cli({"msg", "send", e});
    const finished f = finish(p);
    EXPECT_EQ(f.code, 2) << e << ": " << f.err;
    EXPECT_TRUE(has(f.err, "ENDPOINT")) << f.err;
  }
}

}  // namespace
