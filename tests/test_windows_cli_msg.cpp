// `pipekit.exe msg send|recv` over named pipes, under Wine: pipe-listen: and
// pipe: between two pipekit processes, with and without an authkey (and a
// wrong one), a library peer (local_server + channel) on the other side, and
// the timeouts (124). The POSIX twin is tests/test_cli_msg.cpp.
#include <gtest/gtest.h>
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "pipekit/auth.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/local.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;

// The build's paths are Unix paths; Wine's Z: drive is the Unix root.
std::string windows_path(std::string p) {
  if (!p.empty() && p.front() == '/') p = "Z:" + p;
  std::replace(p.begin(), p.end(), '/', '\\');
  return p;
}

const std::string cli_path = windows_path(PIPEKIT_CLI_PATH);

std::string unique_name() {
  static std::atomic<int> serial{0};
  return "pipekit-test-cli-msg-" + std::to_string(::GetCurrentProcessId()) + "-" + std::to_string(serial++);
}

pipekit::command pipekit_cli(std::initializer_list<std::string> args) {
  pipekit::command c{cli_path};
  for (const auto& a : args) c.arg(a);
  c.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
  return c;
}

struct finished {
  pipekit::exit_status status;
  std::string out;
  std::string err;
};

finished finish(pipekit::process& p, const std::string& input) {
  pipekit::communicate_options o;
  o.input = input;
  o.until = pipekit::after(60s);
  pipekit::communicate_result r;
  try {
    r = p.communicate(o);
  } catch (const std::system_error& e) {
    ADD_FAILURE() << "communicate: " << e.what();
    (void)p.terminate(std::chrono::milliseconds(100));
  }
  auto st = p.wait_until(pipekit::after(60s));
  EXPECT_TRUE(st.has_value()) << "pipekit.exe did not finish";
  return {st.value_or(pipekit::exit_status{}), r.out, r.err};
}

// recv prints each message and "\n"; text through the C runtime's stdout
// stays "\n" (binary), as the POSIX version prints it.
TEST(windows_cli_msg, send_to_a_listening_recv_over_a_named_pipe) {
  const std::string name = unique_name();
  auto recv = pipekit_cli({"msg", "recv", "pipe-listen:" + name, "--timeout", "30"}).spawn();
  // The listener needs a moment to create the pipe: the client waits for it.
  auto send = pipekit_cli({"msg", "send", "pipe:" + name, "--timeout", "30"}).spawn();
  const finished s = finish(send, "one\n\nthree\n");
  const finished r = finish(recv, "");
  EXPECT_EQ(s.status.code(), 0) << s.err;
  EXPECT_EQ(r.status.code(), 0) << r.err;
  EXPECT_EQ(r.out, "one\n\nthree\n");
}

TEST(windows_cli_msg, authkey_right_and_wrong_both_ways) {
  {
    const std::string name = unique_name();
    auto recv = pipekit_cli({"msg", "recv", "pipe-listen:" + name, "--authkey", "k", "--timeout", "30"}).spawn();
    auto send = pipekit_cli({"msg", "send", "pipe:" + name, "--authkey", "k", "--timeout", "30"}).spawn();
    const finished s = finish(send, "secret line\n");
    const finished r = finish(recv, "");
    EXPECT_EQ(s.status.code(), 0) << s.err;
    EXPECT_EQ(r.out, "secret line\n") << r.err;
  }
  {
    const std::string name = unique_name();
    auto recv = pipekit_cli({"msg", "recv", "pipe-listen:" + name, "--authkey", "k", "--timeout", "30"}).spawn();
    auto send = pipekit_cli({"msg", "send", "pipe:" + name, "--authkey", "wrong", "--timeout", "30"}).spawn();
    const finished s = finish(send, "never\n");
    const finished r = finish(recv, "");
    EXPECT_EQ(s.status.code(), 1);
    EXPECT_EQ(r.status.code(), 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("ermission"), std::string::npos) << r.err;
  }
}

TEST(windows_cli_msg, a_library_listener_with_a_key_receives_from_msg_send) {
  const std::string name = unique_name();
  pipekit::local_server server = pipekit::local_server::listen(name);
  auto send = pipekit_cli({"msg", "send", "pipe:" + name, "--authkey", "k", "--timeout", "30"}).spawn();
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
  EXPECT_EQ(s.status.code(), 0) << s.err;
}

TEST(windows_cli_msg, no_server_or_no_client_within_the_timeout_exits_124) {
  const std::string name = unique_name();
  auto send = pipekit_cli({"msg", "send", "pipe:" + name, "--timeout", "0.3"}).spawn();
  const finished s = finish(send, "x\n");
  EXPECT_EQ(s.status.code(), 124) << s.err;
  EXPECT_NE(s.err.find("timed out"), std::string::npos) << s.err;
  auto recv = pipekit_cli({"msg", "recv", "pipe-listen:" + name, "--timeout", "0.3"}).spawn();
  const finished r = finish(recv, "");
  EXPECT_EQ(r.status.code(), 124) << r.err;
}

TEST(windows_cli_msg, recv_on_an_inherited_handle) {
  auto [r, w] = pipekit::channel_pair(false);
  const pipekit::native_handle_type h = r.native_handle();
  pipekit::command c = pipekit_cli({"msg", "recv", "handle:" + std::to_string(reinterpret_cast<std::uintptr_t>(h))});
  c.pass_handle(h, 3);
  auto recv = c.spawn();
  r.close();  // the child holds its copy
  w.send("first");
  w.send("");
  w.send("last");
  w.close();
  const finished got = finish(recv, "");
  EXPECT_EQ(got.status.code(), 0) << got.err;
  EXPECT_EQ(got.out, "first\n\nlast\n");
}

TEST(windows_cli_msg, the_key_comes_from_authkey_file_or_the_environment_too) {
  char temp[MAX_PATH];
  ASSERT_GT(::GetTempPathA(MAX_PATH, temp), 0u);
  const std::string key_file = std::string(temp) + unique_name() + ".key";
  HANDLE f = ::CreateFileA(key_file.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  ASSERT_NE(f, INVALID_HANDLE_VALUE);
  DWORD written = 0;
  ::WriteFile(f, "k\r\n", 3, &written, nullptr);  // a line as a Windows editor saves it
  ::CloseHandle(f);
  for (const bool right : {true, false}) {
    const std::string name = unique_name();
    auto recv =
        pipekit_cli({"msg", "recv", "pipe-listen:" + name, "--authkey-file", key_file, "--timeout", "30"}).spawn();
    pipekit::command sc = pipekit_cli({"msg", "send", "pipe:" + name, "--timeout", "30"});
    sc.env("PIPEKIT_AUTHKEY", right ? "k" : "wrong");
    auto send = sc.spawn();
    const finished s = finish(send, "keyed\n");
    const finished r = finish(recv, "");
    EXPECT_EQ(s.status.code(), right ? 0 : 1) << s.err;
    EXPECT_EQ(r.status.code(), right ? 0 : 1) << r.err;
    EXPECT_EQ(r.out, right ? "keyed\n" : "");
  }
  ::DeleteFileA(key_file.c_str());
}

TEST(windows_cli_msg, recv_null_and_netstring_output_and_max_size) {
  const auto received = [](std::initializer_list<std::string> args, std::initializer_list<std::string> messages) {
    auto [r, w] = pipekit::channel_pair(false);
    const pipekit::native_handle_type h = r.native_handle();
    pipekit::command c = pipekit_cli({"msg", "recv", "handle:" + std::to_string(reinterpret_cast<std::uintptr_t>(h))});
    for (const auto& a : args) c.arg(a);
    c.pass_handle(h, 3);
    auto recv = c.spawn();
    r.close();
    for (const auto& m : messages) w.send(m);
    w.close();
    return finish(recv, "");
  };
  finished got = received({"-0"}, {"a\nb", "c"});
  EXPECT_EQ(got.status.code(), 0) << got.err;
  EXPECT_EQ(got.out, std::string("a\nb\0c\0", 6));
  got = received({"--netstring"}, {"a\r\nb", ""});
  EXPECT_EQ(got.status.code(), 0) << got.err;
  EXPECT_EQ(got.out, "4:a\r\nb,0:,");
  got = received({"--max-size", "3"}, {"abc", "abcd"});
  EXPECT_EQ(got.status.code(), 1);
  EXPECT_EQ(got.out, "abc\n");
  EXPECT_NE(got.err.find("message 2 is larger than --max-size (3 bytes)"), std::string::npos) << got.err;
}

TEST(windows_cli_msg, unknown_endpoints_are_usage_errors) {
  for (const char* e : {"unix:/tmp/x", "fifo:x", "handle:abc", "tcp:1"}) {
    auto p = pipekit_cli({"msg", "recv", e}).spawn();
    const finished r = finish(p, "");
    EXPECT_EQ(r.status.code(), 2) << e << ": " << r.err;
  }
}

}  // namespace
