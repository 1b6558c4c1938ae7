// A channel over a FIFO pair (pipekit/fifo.hpp + pipekit/channel.hpp) with
// CPython's multiprocessing.connection.Connection as the real peer: Python
// wraps the descriptors of os.open() on the two FIFOs
// (tests/helpers/mp_peer.py --rfifo/--wfifo).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/fifo.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::channel;
namespace fs = std::filesystem;

constexpr std::size_t mib = 1024 * 1024;
constexpr auto test_time = 60s;  // every blocking call has a deadline: a failure never hangs

// The same bytes as pattern() in tests/helpers/mp_peer.py.
std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i + seed) % 251);
  return s;
}

// Each test's files live in its own private directory.
class temp_dir : public pipekit_test::temp_dir {
 public:
  temp_dir() : pipekit_test::temp_dir("pipekit-channel-fifo") {}
};

const std::string mp_peer = PIPEKIT_SOURCE_DIR "/tests/helpers/mp_peer.py";

// Python on a FIFO pair: it reads `to_python` and writes `to_pipekit`,
// opening them in that order with blocking opens.
pipekit::process python_on_fifos(const std::string& mode, const std::string& to_python, const std::string& to_pipekit,
                                 const std::vector<std::string>& args) {
  pipekit::command cmd{"python3", mp_peer, mode, "--rfifo", to_python, "--wfifo", to_pipekit};
  cmd.args(args).kill_on_parent_death();
  return cmd.spawn();
}

// pipekit's end of the same pair. A FIFO's open waits for the other end, so
// both sides open the FIFOs in the same order (to_python first); in the
// opposite order each would wait in its first open for the other's second.
channel pipekit_on_fifos(const std::string& to_python, const std::string& to_pipekit) {
  pipekit::handle_stream w = pipekit::open_fifo_writer(to_python, pipekit::after(test_time));
  // Returns once Python has written its first message (or closed).
  pipekit::handle_stream r = pipekit::open_fifo_reader(to_pipekit, pipekit::after(test_time));
  return channel(std::move(r), std::move(w));
}

void expect_python_succeeded(pipekit::process& p) {
  const auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value()) << "the Python peer did not finish";
  EXPECT_TRUE(st->success()) << st->to_string();
}

TEST(channel_fifo, python_asks_over_one_fifo_and_pipekit_answers_over_the_other_0_1_and_1MiB_bytes) {
  temp_dir dir;
  const std::string to_python = dir / "to-python", to_pipekit = dir / "to-pipekit";
  pipekit::create_fifo(to_python);
  pipekit::create_fifo(to_pipekit);
  const std::vector<std::size_t> sizes = {0, 1, mib};
  std::vector<std::string> args;
  for (const std::size_t n : sizes) args.push_back(std::to_string(n));
  auto p = python_on_fifos("ask", to_python, to_pipekit, args);
  channel ch = pipekit_on_fifos(to_python, to_pipekit);

  for (std::size_t i = 0; i < sizes.size(); ++i) {
    std::string m;
    std::error_code ec;
    ASSERT_TRUE(ch.recv(m, pipekit::after(test_time), ec)) << "question " << i << ": " << ec.message();
    // Byte for byte (EXPECT_EQ would print a MiB on failure).
    ASSERT_EQ(m.size(), sizes[i]) << "question " << i;
    EXPECT_TRUE(m == pattern(sizes[i], static_cast<unsigned>(i))) << "question " << i;
    ch.send(pattern(sizes[i], 100 + static_cast<unsigned>(i)), pipekit::after(test_time), ec);
    ASSERT_FALSE(ec) << "answer " << i << ": " << ec.message();
  }
  // Python closes its FIFO after the last answer: a clean end of stream,
  // then ours ends its stream (mp_peer requires it).
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_FALSE(ec) << ec.message();
  ch.close_send();
  expect_python_succeeded(p);
}

TEST(channel_fifo, python_and_pipekit_each_sending_8MiB_before_reading_both_finish_over_a_fifo_pair) {
  // Much more than a FIFO holds (64 KiB by default) in both directions at
  // once: pipekit's send must take in Python's message while it waits.
  temp_dir dir;
  const std::string to_python = dir / "to-python", to_pipekit = dir / "to-pipekit";
  pipekit::create_fifo(to_python);
  pipekit::create_fifo(to_pipekit);
  auto p = python_on_fifos("swap", to_python, to_pipekit, {std::to_string(8 * mib)});
  channel ch = pipekit_on_fifos(to_python, to_pipekit);
  std::error_code ec;
  ch.send(pattern(8 * mib, 2), pipekit::after(test_time), ec);
  EXPECT_FALSE(ec) << ec.message();
  std::string m;
  EXPECT_TRUE(ch.recv(m, pipekit::after(test_time), ec)) << ec.message();
  EXPECT_EQ(m.size(), 8 * mib);
  EXPECT_TRUE(m == pattern(8 * mib, 1));
  expect_python_succeeded(p);
}

}  // namespace
