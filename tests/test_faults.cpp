// System calls made to fail at the POSIX seam (src/posix/syscall.hpp), as
// {fmt}'s posix-mock tests do: EINTR, EAGAIN, ENOMEM and short reads and
// writes on the stream, channel and communicate paths. Each test checks that
// its faults were met (so it cannot pass without them) and that no byte was
// lost or reordered.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"
#include "posix/syscall.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::detail::posix::fault_injector;
using pipekit::detail::posix::syscall;

const std::string child_path = PIPEKIT_CHILD_PATH;

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 17 + i / 1013) & 0xff);
  return s;
}

// Installed for the calling thread for its lifetime. Each call of a kind it
// is told about fails with `error` the first `failures` times, then every
// `every`-th call fails again; `short_to` caps how much a call may move.
class faults final : public fault_injector {
 public:
  struct rule {
    int error = 0;
    int failures = 0;          // the first this many calls fail
    int every = 0;             // after them, every this-many-th call fails (0: none)
    std::size_t short_to = 0;  // 0: no cap
  };

  faults() { pipekit::detail::posix::current_fault_injector = this; }
  faults(const faults&) = delete;
  faults& operator=(const faults&) = delete;
  ~faults() { pipekit::detail::posix::current_fault_injector = nullptr; }

  faults& on(syscall c, rule r) {
    rules_[static_cast<int>(c)] = r;
    return *this;
  }

  int before(syscall c, std::size_t& size) noexcept override {
    state& s = state_[static_cast<int>(c)];
    const rule& r = rules_[static_cast<int>(c)];
    ++s.calls;
    if (r.error != 0) {
      const bool fail = s.calls <= r.failures || (r.every > 0 && s.calls % r.every == 0);
      if (fail) {
        ++s.failed;
        return r.error;
      }
    }
    if (r.short_to != 0 && size > r.short_to) {
      size = r.short_to;
      ++s.shortened;
    }
    return 0;
  }

  int failed(syscall c) const { return state_[static_cast<int>(c)].failed; }
  int shortened(syscall c) const { return state_[static_cast<int>(c)].shortened; }
  int calls(syscall c) const { return state_[static_cast<int>(c)].calls; }

 private:
  struct state {
    int calls = 0;
    int failed = 0;
    int shortened = 0;
  };
  rule rules_[5] = {};
  state state_[5] = {};
};

TEST(faults, a_read_interrupted_by_signals_is_retried) {
  auto [r, w] = pipekit::make_pipe();
  w.write_all("data");
  faults f;
  f.on(syscall::read, {.error = EINTR, .failures = 3});
  std::byte buf[16];
  EXPECT_EQ(r.read_some(buf), 4u);
  EXPECT_EQ(f.failed(syscall::read), 3);
}

TEST(faults, write_all_delivers_every_byte_through_short_and_interrupted_writes) {
  auto [r, w] = pipekit::make_pipe();
  const std::string data = pattern(100000, 1);
  std::string got;
  std::thread reader([&] { got = r.read_to_end(); });
  {
    faults f;
    f.on(syscall::write, {.error = EINTR, .failures = 2, .every = 3, .short_to = 777});
    EXPECT_EQ(w.write_all(data), data.size());
    EXPECT_GT(f.failed(syscall::write), 2);
    EXPECT_GT(f.shortened(syscall::write), 10);
  }
  w.close();
  reader.join();
  EXPECT_TRUE(got == data);
}

TEST(faults, a_read_that_fails_for_lack_of_memory_reports_it_and_loses_nothing) {
  auto [r, w] = pipekit::make_pipe();
  w.write_all("kept");
  std::byte buf[16];
  std::error_code ec;
  {
    faults f;
    f.on(syscall::read, {.error = ENOMEM, .failures = 1});
    EXPECT_EQ(r.read_some(buf, ec), 0u);
    EXPECT_EQ(ec, std::errc::not_enough_memory);
  }
  ASSERT_EQ(r.read_some(buf, ec), 4u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf), 4), "kept");
}

TEST(faults, a_deadline_read_that_meets_eagain_waits_and_reads) {
  auto [r, w] = pipekit::make_pipe();
  w.write_all("late");
  faults f;
  f.on(syscall::read, {.error = EAGAIN, .failures = 2});
  std::byte buf[16];
  std::error_code ec;
  r.set_nonblocking(true);
  EXPECT_EQ(r.read_some(buf, pipekit::after(30s), ec), 4u) << ec.message();
  EXPECT_EQ(f.failed(syscall::read), 2);
}

TEST(faults, an_interrupted_wait_is_retried_with_the_time_left) {
  auto [r, w] = pipekit::make_pipe();
  faults f;
  f.on(syscall::wait, {.error = EINTR, .failures = 5});
  const auto start = pipekit::clock::now();
  EXPECT_FALSE(r.wait(pipekit::events::readable, start + 50ms));
  EXPECT_GE(pipekit::clock::now(), start + 50ms);  // not cut short by the interruptions
  EXPECT_EQ(f.failed(syscall::wait), 5);
}

// A channel's frames over a pipe (writev) and a socket (sendmsg), every
// call short and some interrupted or refused for the moment: the receiver
// gets every message whole and in order.
void send_through_faults(bool duplex, syscall call) {
  auto [a, b] = pipekit::channel_pair(duplex);
  pipekit::channel& rx = duplex ? b : a;
  pipekit::channel& tx = duplex ? a : b;
  const std::string big = pattern(1 << 20, 2);
  const std::string small = "small";
  std::string got_big;
  std::string got_small;
  std::error_code rx_ec;
  std::thread reader([&] {
    if (rx.recv(got_big, pipekit::after(60s), rx_ec)) (void)rx.recv(got_small, pipekit::after(60s), rx_ec);
  });
  std::error_code ec;
  {
    faults f;
    f.on(call, {.error = EINTR, .failures = 1, .every = 4, .short_to = 1000});
    tx.send(big, pipekit::after(60s), ec);
    EXPECT_FALSE(ec) << ec.message();
    f.on(call, {.error = EAGAIN, .failures = 2, .short_to = 3});
    tx.send(small, pipekit::after(60s), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_GT(f.shortened(call), 0);
    EXPECT_GT(f.calls(call), 100);
  }
  reader.join();
  EXPECT_FALSE(rx_ec) << rx_ec.message();
  EXPECT_TRUE(got_big == big);
  EXPECT_EQ(got_small, small);
}

TEST(faults, channel_frames_over_a_pipe_survive_short_and_interrupted_writes) {
  send_through_faults(false, syscall::write);
}

TEST(faults, channel_frames_over_a_socket_survive_short_and_interrupted_sends) {
  send_through_faults(true, syscall::send);
}

TEST(faults, a_channel_receive_without_memory_reports_it_and_the_next_one_gets_the_message) {
  auto [r, w] = pipekit::channel_pair(false);
  w.send("first");
  std::string got;
  std::error_code ec;
  {
    faults f;
    f.on(syscall::read, {.error = ENOMEM, .failures = 1});
    EXPECT_FALSE(r.recv(got, pipekit::after(30s), ec));
    EXPECT_EQ(ec, std::errc::not_enough_memory);
    EXPECT_EQ(f.failed(syscall::read), 1);
  }
  ASSERT_TRUE(r.recv(got, pipekit::after(30s), ec)) << ec.message();
  EXPECT_EQ(got, "first");
}

TEST(faults, a_channel_receive_through_short_reads_gets_whole_messages) {
  auto [r, w] = pipekit::channel_pair(false);
  const std::string m = pattern(300000, 3);
  std::thread writer([&] {
    w.send(m);
    w.send("tail");
  });
  std::string got;
  std::string tail;
  {
    faults f;
    f.on(syscall::read, {.error = EINTR, .every = 5, .short_to = 1});  // one byte a read at first
    std::error_code ec;
    ASSERT_TRUE(r.recv(got, pipekit::after(60s), ec)) << ec.message();
    ASSERT_TRUE(r.recv(tail, pipekit::after(60s), ec)) << ec.message();
    EXPECT_GT(f.shortened(syscall::read), 100);
    EXPECT_GT(f.failed(syscall::read), 0);
  }
  writer.join();
  EXPECT_TRUE(got == m);
  EXPECT_EQ(tail, "tail");
}

// communicate(): the writes to the child's stdin short and interrupted, the
// reads of its output interrupted, the waits interrupted: the output is the
// input, byte for byte (the child echoes).
TEST(faults, communicate_through_short_writes_and_interruptions_loses_nothing) {
  pipekit::command cmd{child_path};
  cmd.arg("echo").set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  const std::string input = pattern(2 << 20, 4);
  pipekit::communicate_result res;
  {
    faults f;
    f.on(syscall::write, {.error = EINTR, .failures = 1, .every = 3, .short_to = 4096})
        .on(syscall::read, {.error = EINTR, .failures = 1, .every = 7})
        .on(syscall::wait, {.error = EINTR, .failures = 2, .every = 11});
    res = p.communicate(input, pipekit::after(120s));
    EXPECT_GT(f.shortened(syscall::write), 0);
    EXPECT_GT(f.failed(syscall::write), 0);
    EXPECT_GT(f.failed(syscall::read), 0);
    EXPECT_GT(f.failed(syscall::wait), 0);
  }
  EXPECT_TRUE(res.out == input) << "got " << res.out.size() << " of " << input.size() << " bytes";
  EXPECT_TRUE(p.wait().success());
}

}  // namespace
