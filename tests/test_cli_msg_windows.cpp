// `pipekit.exe msg` on what only Windows has (under Wine in CI): its
// endpoint names. The cases both systems share are in test_cli_msg.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "helpers/test_support.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit_test::cli_path;

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

TEST(windows_cli_msg, unknown_endpoints_are_usage_errors) {
  for (const char* e : {"unix:/tmp/x", "fifo:x", "handle:abc", "tcp:1"}) {
    auto p = pipekit_cli({"msg", "recv", e}).spawn();
    const finished r = finish(p, "");
    EXPECT_EQ(r.status.code(), 2) << e << ": " << r.err;
  }
}

}  // namespace
