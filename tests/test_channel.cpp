// pipekit::channel on both systems: multiprocessing framing over socket
// pairs and pipes on POSIX, duplex named pipes and one-way pipes on Windows
// (under Wine in CI); deadlines, the no-deadlock guarantee of two-way
// traffic, bounds against hostile peers, a child that finds its end through
// the environment. What only one system has is guarded in place: socket
// pairs, descriptor flags and resident memory on POSIX, and the Python peers
// (tests/helpers/mp_peer.py; Python is not installed in the Wine prefix, and
// the wire format is the same code on both systems).
#include <gtest/gtest.h>

#include "pipekit/channel.hpp"

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/auth.hpp"
#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/process.hpp"

// ---- allocation tracking ------------------------------------------------------
// The largest single allocation while `tracking` is on: proves that a hostile
// announcement makes nothing of its size be allocated (with ru_maxrss below).

namespace {
std::atomic<bool> tracking{false};
std::atomic<std::size_t> largest_allocation{0};
// How many allocations of at least 2 MiB while `tracking` is on: proves that
// a large message is allocated once, not grown step by step.
std::atomic<std::size_t> large_allocations{0};

void* tracked_alloc(std::size_t n) {
  if (tracking.load(std::memory_order_relaxed)) {
    if (n >= (std::size_t{2} << 20)) large_allocations.fetch_add(1, std::memory_order_relaxed);
    std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
    while (n > seen && !largest_allocation.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return tracked_alloc(n); }
void* operator new[](std::size_t n) { return tracked_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace std::chrono_literals;
using pipekit::channel;

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
constexpr auto test_time = 60s;  // every blocking call has a deadline: a failure never hangs

// The same bytes as pattern() in tests/helpers/mp_peer.py.
std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i + seed) % 251);
  return s;
}

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string be64(std::uint64_t v) {
  return be32(static_cast<std::uint32_t>(v >> 32)) + be32(static_cast<std::uint32_t>(v));
}

#ifndef _WIN32
long max_rss_kib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// The memory the process holds now (resident), in KiB; -1 where the system
// does not say (Linux: /proc/self/statm).
long rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long size = 0;
  long resident = -1;
  if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
  std::fclose(f);
  return resident < 0 ? -1 : resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

#endif

// A channel reading from a raw writer we control byte by byte.
struct raw_feed {
  pipekit::handle_stream raw;  // we write frames (or garbage) here
  channel ch;                  // the channel under test reads them
};

#ifndef _WIN32
raw_feed socket_feed(const pipekit::channel_options& o = {}) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {pipekit::handle_stream(pipekit::handle(fds[0])), channel(pipekit::handle_stream(pipekit::handle(fds[1])), o)};
}

#endif

raw_feed pipe_feed(const pipekit::channel_options& o = {}) {
  auto p = pipekit::make_pipe();
  return {std::move(p.write_end), channel(std::make_unique<pipekit::handle_stream>(std::move(p.read_end)), nullptr, o)};
}

// A feed for tests that only write to it: a socket pair on POSIX, a pipe on
// Windows.
raw_feed write_feed(const pipekit::channel_options& o = {}) {
#ifdef _WIN32
  return pipe_feed(o);
#else
  return socket_feed(o);
#endif
}

// Ends what `ch` sends, so that the peer's recv() reaches the end of the
// stream: a half-close where the system has one, closing the channel where
// it has not (a duplex pipe on Windows).
void end_sending(channel& ch) {
#ifdef _WIN32
  ch.close();
#else
  ch.close_send();
#endif
}

std::string recv_or_fail(channel& ch) {
  std::string out;
  std::error_code ec;
  EXPECT_TRUE(ch.recv(out, pipekit::after(test_time), ec)) << ec.message();
  return out;
}

// Two channels over two pipes (not a socket): the kind of duplex connection a
// parent has with a child's stdin/stdout.
pipekit::channel_ends pipe_duplex() {
  auto p1 = pipekit::make_pipe();
  auto p2 = pipekit::make_pipe();
  return {channel(std::move(p1.read_end), std::move(p2.write_end)),
          channel(std::move(p2.read_end), std::move(p1.write_end))};
}

// ---- child modes: the test binary re-run as a pipekit peer ---------------------

constexpr const char* child_mode_variable = "PIPEKIT_CHANNEL_TEST_CHILD";

int run_child_mode(const std::string& mode) {
  std::error_code ec;
  channel ch = channel::from_environment(pipekit::channel_fd_variable, {}, ec);
  if (ec) return 10;
  std::string msg;
  if (mode == "echo") {
    while (ch.recv(msg, pipekit::no_deadline, ec)) {
      ch.send(msg, pipekit::no_deadline, ec);
      if (ec) return 11;
    }
    return ec ? 12 : 0;
  }
  if (mode.rfind("swap:", 0) == 0) {
    const std::size_t n = std::stoul(mode.substr(5));
    ch.send(pattern(n, 1), pipekit::after(test_time), ec);
    if (ec) return 13;
    if (!ch.recv(msg, pipekit::after(test_time), ec)) return 14;
    return msg == pattern(n, 2) ? 0 : 15;
  }
  return 20;
}

// Runs before main(): when the tests spawn this binary as a peer, it plays
// that role and exits without starting GoogleTest.
[[maybe_unused]] const int child_dispatch = [] {
  if (const char* mode = std::getenv(child_mode_variable)) std::exit(run_child_mode(mode));
  return 0;
}();

std::string self_path() {
#ifdef _WIN32
  wchar_t buf[4096];
  const DWORD n = ::GetModuleFileNameW(nullptr, buf, 4096);
  return pipekit_test::to_utf8(std::wstring_view(buf, n));
#else
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
#endif
}

// What a child reads from pipekit::channel_fd_variable to find `h`, passed
// as descriptor `fd`: that number on POSIX, the handle's value on Windows.
std::string passed_value(pipekit::native_handle_type h, int fd) {
#ifdef _WIN32
  (void)fd;
  return std::to_string(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h)));
#else
  (void)h;
  return std::to_string(fd);
#endif
}

#ifndef _WIN32
const std::string mp_peer = PIPEKIT_SOURCE_DIR "/tests/helpers/mp_peer.py";

pipekit::command python_peer(const std::vector<std::string>& args) {
  pipekit::command cmd{"python3", mp_peer};
  cmd.args(args).kill_on_parent_death();
  return cmd;
}
#endif

// ---- round trips -----------------------------------------------------------------

// channel_pair(): a socket pair on POSIX, a duplex named pipe on Windows.
TEST(channel, round_trips_messages_of_0_1_and_1MiB_bytes_over_a_socketpair) {
  auto [a, b] = pipekit::channel_pair();
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, mib}) {
    const std::string m = pattern(n, static_cast<unsigned>(n));
    std::thread t([&, n] {
      std::error_code ec;
      a.send(m, pipekit::after(test_time), ec);
      EXPECT_FALSE(ec) << ec.message() << " size " << n;
    });
    EXPECT_EQ(recv_or_fail(b), m);
    t.join();
    // And back (1 MiB and its header may not fit the buffer: from a thread).
    std::thread back([&] { b.send(m, pipekit::after(test_time)); });
    EXPECT_EQ(recv_or_fail(a), m);
    back.join();
  }
}

TEST(channel, round_trips_messages_of_0_1_and_1MiB_bytes_over_a_pipe) {
  auto [r, w] = pipekit::channel_pair(false);
  EXPECT_FALSE(r.can_send());
  EXPECT_FALSE(w.can_recv());
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, mib}) {
    const std::string m = pattern(n, 7);
    // 1 MiB plus its header does not fit the 1 MiB pipe: send from a thread.
    std::thread t([&] { w.send(m, pipekit::after(test_time)); });
    EXPECT_EQ(recv_or_fail(r), m);
    t.join();
  }
  w.close_send();
  std::string m;
  EXPECT_FALSE(r.recv(m, pipekit::after(test_time)));  // clean end of stream
}

TEST(channel, many_small_messages_arrive_whole_and_in_order) {
  auto [a, b] = pipekit::channel_pair();
  constexpr int count = 20000;
  std::thread t([&] {
    for (int i = 0; i < count; ++i) a.send(std::to_string(i) + ":" + pattern(static_cast<std::size_t>(i % 300), 0));
    end_sending(a);
  });
  std::string m;
  int i = 0;
  while (b.recv(m, pipekit::after(test_time))) {
    ASSERT_EQ(m, std::to_string(i) + ":" + pattern(static_cast<std::size_t>(i % 300), 0));
    ++i;
  }
  EXPECT_EQ(i, count);
  t.join();
}

TEST(channel, send_batch_frames_every_message) {
  auto [a, b] = pipekit::channel_pair();
  std::vector<std::string> owned;
  for (int i = 0; i < 1000; ++i) owned.push_back(pattern(static_cast<std::size_t>(i % 17), static_cast<unsigned>(i)));
  std::vector<std::string_view> views(owned.begin(), owned.end());
  std::vector<std::span<const std::byte>> spans;
  for (const auto& s : owned) spans.push_back(bytes(s));
  std::thread t([&] {
    EXPECT_EQ(a.send_batch(views), 1000u);
    EXPECT_EQ(a.send_batch(spans), 1000u);
    end_sending(a);
  });
  for (int round = 0; round < 2; ++round)
    for (const auto& s : owned) ASSERT_EQ(recv_or_fail(b), s);
  std::string m;
  EXPECT_FALSE(b.recv(m, pipekit::after(test_time)));
  t.join();
}

TEST(channel, send_batch_mixes_small_and_large_messages) {
  // Small payloads are copied next to their headers, large ones are sent in
  // place: both kinds, in any order, arrive whole.
  auto [a, b] = pipekit::channel_pair();
  std::vector<std::string> owned;
  for (const std::size_t n : {std::size_t{0}, std::size_t{5000}, std::size_t{10}, 3 * mib, std::size_t{2048},
                              std::size_t{2049}, std::size_t{1}, std::size_t{0}})
    owned.push_back(pattern(n, static_cast<unsigned>(owned.size())));
  std::vector<std::string_view> views(owned.begin(), owned.end());
  std::thread t([&] {
    std::error_code ec;
    EXPECT_EQ(a.send_batch(views, pipekit::after(test_time), ec), owned.size()) << ec.message();
  });
  for (const auto& s : owned) EXPECT_TRUE(recv_or_fail(b) == s) << s.size();
  t.join();
}

TEST(channel, send_batch_that_times_out_reports_the_messages_that_went_out_whole) {
  auto [r, w] = pipekit::channel_pair(false);  // a pipe nobody reads yet
  // Three messages fit the pipe's buffer, the fourth does not.
  const std::string m = pattern(pipekit::pipe_capacity(w.write_handle()) * 3 / 10, 4);
  const std::vector<std::string_view> batch(10, m);
  std::error_code ec;
  const std::size_t sent = w.send_batch(batch, pipekit::after(50ms), ec);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_GE(sent, 1u);
  EXPECT_LT(sent, 10u);
  w.close();
  for (std::size_t i = 0; i < sent; ++i) EXPECT_TRUE(recv_or_fail(r) == m);
  std::string out;
  EXPECT_FALSE(r.recv(out, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);  // the frame the timeout cut
}

TEST(channel, wire_format_is_multiprocessing_send_bytes) {
  auto [r, w] = pipekit::make_pipe();
  channel ch(nullptr, std::make_unique<pipekit::handle_stream>(std::move(w)));
  ch.send("hello");
  ch.send("");
  ch.close();
  EXPECT_EQ(r.read_to_end(), be32(5) + "hello" + be32(0));
}

// ---- end of stream -------------------------------------------------------------

TEST(channel, recv_returns_false_at_clean_end_of_stream) {
  auto f = pipe_feed();
  f.raw.write_all(be32(3) + "abc");
  f.raw.close();
  std::string m;
  EXPECT_TRUE(f.ch.recv(m));
  EXPECT_EQ(m, "abc");
  EXPECT_FALSE(f.ch.recv(m));
  EXPECT_FALSE(f.ch.recv(m));  // and stays at the end
  EXPECT_EQ(f.ch.recv(), std::nullopt);
}

TEST(channel, truncated_header_at_end_of_stream_is_a_protocol_error) {
  auto f = pipe_feed();
  f.raw.write_all(std::string("\0\0", 2));
  f.raw.close();
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
  EXPECT_TRUE(ec == std::errc::protocol_error);
}

TEST(channel, truncated_payload_at_end_of_stream_is_a_protocol_error) {
  auto f = write_feed();
  f.raw.write_all(be32(100) + std::string(10, 'x'));
  f.raw.close();
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
  EXPECT_THROW((void)f.ch.recv(m), std::system_error);
}

TEST(channel, truncated_eight_byte_length_is_a_protocol_error) {
  auto f = pipe_feed();
  f.raw.write_all(be32(0xffffffff) + std::string("\0\0\0", 3));
  f.raw.close();
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
}

// ---- hostile and malformed peers ---------------------------------------------------

#ifndef _WIN32  // peak RSS, and a socket pair to see the end from the peer
TEST(channel, peer_announcing_4GiB_gets_message_too_large_without_large_allocation) {
  auto f = socket_feed();  // default limit: 64 MiB
  ASSERT_EQ(f.ch.options().max_message_size, 64 * mib);
  // -1, then an 8-byte length of 4 GiB, then a little payload.
  f.raw.write_all(be32(0xffffffff) + be64(std::uint64_t{4} << 30) + std::string(1000, 'x'));
  const long rss_before = max_rss_kib();
  largest_allocation = 0;
  tracking = true;
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  tracking = false;
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_TRUE(ec == std::errc::message_size);
  EXPECT_LT(largest_allocation.load(), std::size_t{1} << 20);
  EXPECT_LT(max_rss_kib() - rss_before, 16 * 1024) << "peak RSS grew by " << max_rss_kib() - rss_before << " KiB";

  // The channel is closed: the same error again, for both directions, and
  // the peer sees the end of the connection.
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  f.ch.send("x", pipekit::after(test_time), ec);
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_FALSE(f.ch.can_recv());
  EXPECT_FALSE(f.ch.can_send());
  EXPECT_EQ(f.raw.read_to_end(pipekit::after(test_time), ec), "");
  EXPECT_FALSE(ec) << ec.message();
}
#endif

TEST(channel, four_byte_length_above_the_limit_is_message_too_large) {
  pipekit::channel_options o;
  o.max_message_size = 1000;
  auto f = pipe_feed(o);
  f.raw.write_all(be32(1001));
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  // The pipe's read end was released: the hostile writer gets broken_pipe.
  f.raw.write_all(std::string(10, 'x'), ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe) << ec.message();
}

TEST(channel, message_of_exactly_the_limit_is_accepted) {
  pipekit::channel_options o;
  o.max_message_size = 1000;
  auto f = pipe_feed(o);
  f.raw.write_all(be32(1000) + pattern(1000, 3));
  EXPECT_EQ(recv_or_fail(f.ch), pattern(1000, 3));
}

TEST(channel, negative_length_is_a_protocol_error) {
  for (const std::uint32_t header : {0xfffffffeu, 0x80000000u}) {
    auto f = write_feed();
    f.raw.write_all(be32(header) + "payload");
    std::string m;
    std::error_code ec;
    EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
    EXPECT_EQ(ec, pipekit::errc::protocol_error) << std::hex << header;
    EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
    EXPECT_EQ(ec, pipekit::errc::protocol_error);
  }
}

TEST(channel, eight_byte_length_form_is_read_and_bounded_by_the_limit) {
  {  // the long form for a short message (legal: Python's recv_bytes accepts it)
    auto f = pipe_feed();
    f.raw.write_all(be32(0xffffffff) + be64(5) + "hello" + be32(2) + "ok");
    EXPECT_EQ(recv_or_fail(f.ch), "hello");
    EXPECT_EQ(recv_or_fail(f.ch), "ok");
  }
  for (const std::uint64_t announced :
       {std::uint64_t{64} * mib + 1, std::uint64_t{0x80000000}, ~std::uint64_t{0}, std::uint64_t{1} << 63}) {
    auto f = write_feed();
    f.raw.write_all(be32(0xffffffff) + be64(announced));
    largest_allocation = 0;
    tracking = true;
    std::string m;
    std::error_code ec;
    EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
    tracking = false;
    EXPECT_EQ(ec, pipekit::errc::message_too_large) << announced;
    EXPECT_LT(largest_allocation.load(), std::size_t{1} << 20);
  }
}

#ifndef _WIN32  // resident memory from /proc/self/statm
TEST(channel, announced_size_within_the_limit_costs_memory_only_as_it_arrives) {
  // The announced 60 MiB are reserved at once (address space, one
  // allocation), but only what arrives is written: a peer that announces a
  // lot and sends little makes us hold little memory.
  auto f = socket_feed();
  f.raw.write_all(be32(60 * mib) + std::string(1024, 'x'));  // announces 60 MiB, sends 1 KiB
  const long rss_before = rss_kib();
  if (rss_before < 0) GTEST_SKIP() << "no /proc/self/statm: resident memory unknown";
  const long peak_before = max_rss_kib();
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(50ms), ec));  // the rest never comes: the partial message is held
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  const long held = rss_kib() - rss_before;
  EXPECT_LT(held, 8 * 1024) << "holding 1 KiB of a 60 MiB message takes " << held << " KiB";
  EXPECT_LT(max_rss_kib() - peak_before, 8 * 1024);
  f.raw.close();
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
}
#endif

TEST(channel, large_message_is_allocated_once_at_its_size) {
  // Received into an empty string: one allocation of the announced size
  // (rounded up to 2 MiB for huge pages), not growth by steps that end at up
  // to twice the size.
  auto [a, b] = pipekit::channel_pair();
  const std::string big = pattern(17 * mib + 1, 4);
  std::thread sender([&] { a.send(big); });
  std::string m;
  std::error_code ec;
  large_allocations = 0;
  tracking = true;
  const bool got = b.recv(m, pipekit::after(test_time), ec);
  tracking = false;
  sender.join();
  ASSERT_TRUE(got) << ec.message();
  EXPECT_TRUE(m == big);
  EXPECT_EQ(large_allocations.load(), 1u);
  EXPECT_GE(m.capacity(), big.size());
  EXPECT_LE(m.capacity(), big.size() + 2 * mib);
  // A reused string that is large enough takes the next one in place.
  const char* before = m.data();
  std::thread again([&] { a.send(std::string_view(big).substr(1)); });
  large_allocations = 0;
  tracking = true;
  const bool got2 = b.recv(m, pipekit::after(test_time), ec);
  tracking = false;
  again.join();
  ASSERT_TRUE(got2) << ec.message();
  EXPECT_EQ(m.size(), big.size() - 1);
  EXPECT_EQ(m.data(), before);
  EXPECT_EQ(large_allocations.load(), 0u);
}

TEST(channel, peer_announcing_4GiB_gets_message_too_large) {
  auto p = pipekit::make_pipe();
  channel r(std::make_unique<pipekit::handle_stream>(std::move(p.read_end)), nullptr);
  const std::string announce = std::string("\xff\xff\xff\xff", 4) + std::string("\0\0\0\x01\0\0\0\0", 8);
  p.write_end.write_all(announce + std::string(1000, 'x'));
  std::string m;
  std::error_code ec;
  EXPECT_FALSE(r.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_FALSE(r.can_recv());
}

// ---- deadlines ------------------------------------------------------------------

TEST(channel, recv_times_out_and_the_channel_stays_usable) {
  auto [a, b] = pipekit::channel_pair();
  std::string m;
  std::error_code ec;
  const auto start = pipekit::clock::now();
  EXPECT_FALSE(b.recv(m, pipekit::after(50ms), ec));
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_GE(pipekit::clock::now() - start, 50ms);
  EXPECT_THROW((void)b.recv(m, pipekit::after(1ms)), std::system_error);
  a.send("after the timeout");
  EXPECT_EQ(recv_or_fail(b), "after the timeout");
}

TEST(channel, recv_timeout_in_the_middle_of_a_message_keeps_what_arrived) {
  auto f = write_feed();
  const std::string big = pattern(200000, 9);
  const std::string frame = be32(static_cast<std::uint32_t>(big.size())) + big;
  std::string m;
  std::error_code ec;
  f.raw.write_all(frame.substr(0, 2));  // half a header
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(20ms), ec));
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  f.raw.write_all(frame.substr(2, 100000));  // the rest of the header, half the payload
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(20ms), ec));
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  m = "a string the next recv() replaces";
  f.raw.write_all(frame.substr(100002) + be32(4) + "next");
  EXPECT_TRUE(recv_or_fail(f.ch) == big);
  EXPECT_EQ(recv_or_fail(f.ch), "next");
}

#ifndef _WIN32  // a second descriptor of the write end, non-blocking
TEST(channel, send_timeout_before_the_first_byte_leaves_the_channel_usable) {
  pipekit::pipe_options po;
  po.capacity = 0;  // the OS default (64 KiB): quick to fill
  auto p = pipekit::make_pipe(po);
  // Fill the pipe through a second descriptor of the write end.
  pipekit::handle_stream filler(pipekit::handle(::fcntl(p.write_end.native_handle(), F_DUPFD_CLOEXEC, 0)));
  filler.set_nonblocking(true);
  std::size_t filled = 0;
  const std::string chunk(4096, 'f');
  for (;;) {
    std::error_code ec;
    const std::size_t n = filler.write_some(bytes(chunk), ec);
    if (ec) break;
    filled += n;
  }
  channel ch(nullptr, std::make_unique<pipekit::handle_stream>(std::move(p.write_end)));
  std::error_code ec;
  ch.send("x", pipekit::after(30ms), ec);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_TRUE(ch.can_send());
  // Drain the filler; now the message goes out whole and intact.
  std::string sink(filled, '\0');
  EXPECT_EQ(p.read_end.read_exact(std::as_writable_bytes(std::span(sink))), filled);
  ch.send("x", pipekit::after(test_time), ec);
  EXPECT_FALSE(ec) << ec.message();
  std::string frame(5, '\0');
  p.read_end.read_exact(std::as_writable_bytes(std::span(frame)));
  EXPECT_EQ(frame, be32(1) + "x");
}
#endif

TEST(channel, send_timeout_in_the_middle_of_a_frame_breaks_the_send_direction) {
  auto [r, w] = pipekit::channel_pair(false);  // nobody reads r
  std::error_code ec;
  w.send(pattern(4 * mib, 0), pipekit::after(50ms), ec);  // more than the 1 MiB pipe holds
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  w.send("next", pipekit::after(test_time), ec);
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
}

TEST(channel, send_into_a_full_pipe_without_a_reader_times_out) {
  // Nothing reads the other end. (Windows has no write readiness: there the
  // overlapped write is cancelled at the deadline.)
  auto [r, w] = pipekit::channel_pair(false);
  std::error_code ec;
  const auto start = pipekit::clock::now();
  w.send(pattern(4 * mib, 3), pipekit::after(200ms), ec);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_GE(pipekit::clock::now() - start, 190ms);
  EXPECT_LT(pipekit::clock::now() - start, 20s);
}

// ---- directions, half-close, errors ---------------------------------------------------

TEST(channel, one_way_pair_receives_on_first_and_sends_on_second) {
  auto [r, w] = pipekit::channel_pair(false);
  EXPECT_TRUE(r.can_recv());
  EXPECT_FALSE(r.can_send());
  EXPECT_TRUE(w.can_send());
  EXPECT_FALSE(w.can_recv());
  std::error_code ec;
  r.send("x", pipekit::no_deadline, ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  std::string m;
  EXPECT_FALSE(w.recv(m, pipekit::no_deadline, ec));
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  w.send("one way");
  EXPECT_EQ(recv_or_fail(r), "one way");
  EXPECT_EQ(r.native_handle(), r.read_handle());
  EXPECT_EQ(w.native_handle(), w.write_handle());
  w.close();
  EXPECT_FALSE(r.recv(m));
}

TEST(channel, close_send_ends_the_peers_stream_and_keeps_receiving) {
#ifdef _WIN32
  for (const bool socket : {false}) {  // a duplex pipe has no half-close (below)
#else
  for (const bool socket : {true, false}) {
#endif
    auto [a, b] = socket ? pipekit::channel_pair() : pipe_duplex();
    a.send("last");
    a.close_send();
    EXPECT_FALSE(a.can_send());
    EXPECT_TRUE(a.can_recv());
    std::string m;
    EXPECT_TRUE(b.recv(m));
    EXPECT_EQ(m, "last");
    EXPECT_FALSE(b.recv(m, pipekit::after(test_time)));
    b.send("reply");
    EXPECT_EQ(recv_or_fail(a), "reply");
    std::error_code ec;
    a.send("more", pipekit::no_deadline, ec);
    EXPECT_TRUE(ec == std::errc::bad_file_descriptor) << ec.message();
  }
}

TEST(channel, send_to_a_closed_peer_is_broken_pipe_not_sigpipe) {
  {
    auto [r, w] = pipekit::channel_pair(false);
    r.close();
    std::error_code ec;
    w.send("x", pipekit::after(test_time), ec);
    EXPECT_TRUE(ec == std::errc::broken_pipe) << ec.message();
  }
  {
    auto [a, b] = pipekit::channel_pair();
    a.close();
    std::error_code ec;
    b.send("x", pipekit::after(test_time), ec);
    EXPECT_TRUE(ec == std::errc::broken_pipe) << ec.message();
    EXPECT_THROW(b.send("y"), std::system_error);
  }
}

TEST(channel, closed_and_default_channels_report_bad_file_descriptor) {
  channel none;
  std::error_code ec;
  none.send("x", pipekit::no_deadline, ec);
  EXPECT_TRUE(ec == std::errc::bad_file_descriptor);
  auto [a, b] = pipekit::channel_pair();
  a.close();
  EXPECT_FALSE(a.is_open());
  std::string m;
  EXPECT_FALSE(a.recv(m, pipekit::no_deadline, ec));
  EXPECT_TRUE(ec == std::errc::bad_file_descriptor);
  EXPECT_EQ(a.read_handle(), pipekit::invalid_native_handle);
}

#ifdef _WIN32
TEST(channel, close_send_on_a_duplex_pipe_is_not_supported_and_says_so) {
  // A Windows pipe cannot shut down one direction (a socket could).
  auto [a, b] = pipekit::channel_pair();
  std::error_code ec;
  a.close_send(ec);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  a.send("still works");
  EXPECT_EQ(recv_or_fail(b), "still works");
}
#endif

// ---- no deadlock in two-way traffic ------------------------------------------------

void two_way_with_threads(pipekit::channel_ends ends, std::size_t size) {
  const std::string from_a = pattern(size, 1);
  const std::string from_b = pattern(size, 2);
  std::thread tb([&] {
    std::error_code ec;
    ends.second.send(from_b, pipekit::after(test_time), ec);  // before reading
    EXPECT_FALSE(ec) << ec.message();
    std::string m;
    EXPECT_TRUE(ends.second.recv(m, pipekit::after(test_time), ec)) << ec.message();
    EXPECT_TRUE(m == from_a);
  });
  std::error_code ec;
  ends.first.send(from_a, pipekit::after(test_time), ec);  // before reading
  EXPECT_FALSE(ec) << ec.message();
  std::string m;
  EXPECT_TRUE(ends.first.recv(m, pipekit::after(test_time), ec)) << ec.message();
  EXPECT_TRUE(m == from_b);
  tb.join();
}

TEST(channel, two_peers_each_sending_8MiB_before_reading_both_finish_over_a_socketpair) {
  two_way_with_threads(pipekit::channel_pair(), 8 * mib);
}

TEST(channel, two_peers_each_sending_8MiB_before_reading_both_finish_over_two_pipes) {
  two_way_with_threads(pipe_duplex(), 8 * mib);
}

TEST(channel, two_way_traffic_past_max_buffered_incoming_waits_for_the_peer) {
  // Documented limit: with a bound below the peer's message, a blocked send
  // stops taking in data; the deadline ends it.
  pipekit::channel_options o;
  o.max_buffered_incoming = 256 * kib;
  auto [a, b] = pipekit::channel_pair(true, o);
  const std::string big = pattern(8 * mib, 0);
  std::error_code ea;
  std::error_code eb;
  std::thread t([&] { b.send(big, pipekit::after(300ms), eb); });
  a.send(big, pipekit::after(300ms), ea);
  t.join();
  EXPECT_TRUE(ea == std::errc::timed_out && eb == std::errc::timed_out) << ea.message() << " / " << eb.message();
  EXPECT_LE(a.buffered_incoming(), o.max_buffered_incoming);
}

TEST(channel, parent_and_pipekit_child_each_sending_8MiB_before_reading_both_finish) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self_path()};
  cmd.pass_handle(theirs.native_handle(), 3)
      .env(pipekit::channel_fd_variable, passed_value(theirs.native_handle(), 3))
      .env(child_mode_variable, "swap:" + std::to_string(8 * mib))
      .kill_on_parent_death();
  auto p = cmd.spawn();
  theirs.close();
  std::error_code ec;
  mine.send(pattern(8 * mib, 2), pipekit::after(test_time), ec);
  EXPECT_FALSE(ec) << ec.message();
  std::string m;
  EXPECT_TRUE(mine.recv(m, pipekit::after(test_time), ec)) << ec.message();
  EXPECT_TRUE(m == pattern(8 * mib, 1));
  auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->success()) << st->to_string();
}

#ifndef _WIN32  // Python peer
TEST(channel, parent_and_python_child_each_sending_8MiB_before_reading_both_finish) {
  for (const bool socket : {true, false}) {
    pipekit::process p;
    channel mine;
    const std::string size = std::to_string(8 * mib);
    if (socket) {
      auto [a, b] = pipekit::channel_pair();
      p = python_peer({"swap", "--fd", "3", size}).pass_handle(b.native_handle(), 3).spawn();
      mine = std::move(a);
    } else {
      auto to_child = pipekit::make_pipe();
      auto from_child = pipekit::make_pipe();
      p = python_peer({"swap", "--rfd", "3", "--wfd", "4", size})
              .pass_handle(to_child.read_end.native_handle(), 3)
              .pass_handle(from_child.write_end.native_handle(), 4)
              .spawn();
      mine = channel(std::move(from_child.read_end), std::move(to_child.write_end));
    }
    std::error_code ec;
    mine.send(pattern(8 * mib, 2), pipekit::after(test_time), ec);
    EXPECT_FALSE(ec) << ec.message();
    std::string m;
    EXPECT_TRUE(mine.recv(m, pipekit::after(test_time), ec)) << ec.message();
    EXPECT_TRUE(m == pattern(8 * mib, 1)) << "socket " << socket;
    auto st = p.wait_until(pipekit::after(test_time));
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(st->success()) << st->to_string() << " socket " << socket;
  }
}
#endif

#ifndef _WIN32  // Python peers
// ---- Python interop -----------------------------------------------------------------

const std::vector<std::string> interop_sizes = {"0", "1", std::to_string(mib)};

TEST(channel, python_sender_to_pipekit_receiver_over_a_pipe) {
  auto [r, w] = pipekit::make_pipe();
  std::vector<std::string> args = {"send", "--fd", "3"};
  args.insert(args.end(), interop_sizes.begin(), interop_sizes.end());
  auto p = python_peer(args).pass_handle(w.native_handle(), 3).spawn();
  w.close();
  channel ch(std::make_unique<pipekit::handle_stream>(std::move(r)), nullptr);
  for (std::size_t i = 0; i < interop_sizes.size(); ++i)
    EXPECT_EQ(recv_or_fail(ch), pattern(std::stoul(interop_sizes[i]), static_cast<unsigned>(i)));
  std::string m;
  EXPECT_FALSE(ch.recv(m, pipekit::after(test_time)));
  EXPECT_TRUE(p.wait().success());
}

TEST(channel, pipekit_sender_to_python_receiver_over_a_pipe) {
  auto [r, w] = pipekit::make_pipe();
  std::vector<std::string> args = {"expect", "--fd", "3"};
  args.insert(args.end(), interop_sizes.begin(), interop_sizes.end());
  auto p = python_peer(args).pass_handle(r.native_handle(), 3).spawn();
  r.close();
  channel ch(nullptr, std::make_unique<pipekit::handle_stream>(std::move(w)));
  for (std::size_t i = 0; i < interop_sizes.size(); ++i)
    ch.send(pattern(std::stoul(interop_sizes[i]), static_cast<unsigned>(i)), pipekit::after(test_time));
  ch.close();
  EXPECT_TRUE(p.wait().success());
}

TEST(channel, python_sender_to_pipekit_receiver_over_a_socketpair) {
  auto [mine, theirs] = pipekit::channel_pair();
  std::vector<std::string> args = {"send", "--fd", "3"};
  args.insert(args.end(), interop_sizes.begin(), interop_sizes.end());
  auto p = python_peer(args).pass_handle(theirs.native_handle(), 3).spawn();
  theirs.close();
  for (std::size_t i = 0; i < interop_sizes.size(); ++i)
    EXPECT_EQ(recv_or_fail(mine), pattern(std::stoul(interop_sizes[i]), static_cast<unsigned>(i)));
  std::string m;
  EXPECT_FALSE(mine.recv(m, pipekit::after(test_time)));
  EXPECT_TRUE(p.wait().success());
}

TEST(channel, pipekit_sender_to_python_receiver_over_a_socketpair) {
  auto [mine, theirs] = pipekit::channel_pair();
  std::vector<std::string> args = {"expect", "--fd", "3"};
  args.insert(args.end(), interop_sizes.begin(), interop_sizes.end());
  auto p = python_peer(args).pass_handle(theirs.native_handle(), 3).spawn();
  theirs.close();
  for (std::size_t i = 0; i < interop_sizes.size(); ++i)
    mine.send(pattern(std::stoul(interop_sizes[i]), static_cast<unsigned>(i)), pipekit::after(test_time));
  mine.close_send();
  EXPECT_TRUE(p.wait().success());
}

TEST(channel, python_echo_over_the_childs_stdin_and_stdout) {
  auto cmd = python_peer({"echo", "--rfd", "0", "--wfd", "1"});
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  auto p = cmd.spawn();
  channel ch(std::move(p.out()), std::move(p.in()));
  std::vector<std::string> sent;
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, mib, 3 * mib}) {
    sent.push_back(pattern(n, static_cast<unsigned>(n % 97)));
  }
  // All sent before any is read back: the echo of the 3 MiB message fills
  // the pipes, so this also exercises receiving while sending.
  std::vector<std::string_view> views(sent.begin(), sent.end());
  std::error_code ec;
  EXPECT_EQ(ch.send_batch(views, pipekit::after(test_time), ec), sent.size()) << ec.message();
  for (const auto& s : sent) EXPECT_TRUE(recv_or_fail(ch) == s) << s.size();
  ch.close_send();
  std::string m;
  EXPECT_FALSE(ch.recv(m, pipekit::after(test_time)));
  EXPECT_TRUE(p.wait().success());
}
#endif

// ---- handing an end to a child -----------------------------------------------------

TEST(channel, child_finds_its_end_through_the_environment) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self_path()};
  cmd.pass_handle(theirs.native_handle(), 3)
      .env(pipekit::channel_fd_variable, passed_value(theirs.native_handle(), 3))
      .env(child_mode_variable, "echo")
      .kill_on_parent_death();
  auto p = cmd.spawn();
  theirs.close();
  for (const std::string m : {"one", "", "three"}) {
    mine.send(m);
    EXPECT_EQ(recv_or_fail(mine), m);
  }
#ifdef _WIN32
  mine.close();  // no half-close on Windows: the child sees the end
#else
  mine.close_send();
  std::string m;
  EXPECT_FALSE(mine.recv(m, pipekit::after(test_time)));
#endif
  auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->success()) << st->to_string();
}

TEST(channel, pass_channel_hands_the_end_and_its_number_to_a_child) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self_path()};
#ifdef _WIN32
  pipekit::pass_channel(cmd, theirs).env(child_mode_variable, "echo").kill_on_parent_death();
#else
  pipekit::pass_channel(cmd, theirs, 5).env(child_mode_variable, "echo").kill_on_parent_death();
#endif
  auto p = cmd.spawn();
  theirs.close();
  mine.send("via pass_channel");
  EXPECT_EQ(recv_or_fail(mine), "via pass_channel");
#ifdef _WIN32
  mine.close();
#else
  mine.close_send();
  std::string m;
  EXPECT_FALSE(mine.recv(m, pipekit::after(test_time)));
#endif
  auto st = p.wait_until(pipekit::after(test_time));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->success()) << st->to_string();

  // A channel of two one-way handles has no single handle to pass.
  auto p1 = pipekit::make_pipe();
  auto p2 = pipekit::make_pipe();
  channel two(std::move(p1.read_end), std::move(p2.write_end));
  EXPECT_THROW(pipekit::pass_channel(cmd, two), std::invalid_argument);
}

#ifndef _WIN32  // Python peer
TEST(channel, python_child_finds_its_end_through_the_environment) {
  auto [mine, theirs] = pipekit::channel_pair();
  auto p = python_peer({"echo", "--env", pipekit::channel_fd_variable})
               .pass_handle(theirs.native_handle(), 5)
               .env(pipekit::channel_fd_variable, "5")
               .spawn();
  theirs.close();
  mine.send("ping");
  EXPECT_EQ(recv_or_fail(mine), "ping");
  mine.close_send();
  EXPECT_TRUE(p.wait().success());
}
#endif

TEST(channel, from_environment_and_from_inherited_fd_check_their_input) {
  std::error_code ec;
  pipekit_test::set_env("PIPEKIT_TEST_NO_SUCH_VARIABLE", nullptr);
  (void)channel::from_environment("PIPEKIT_TEST_NO_SUCH_VARIABLE", {}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
  pipekit_test::set_env("PIPEKIT_TEST_CHANNEL_FD", "3x");
  (void)channel::from_environment("PIPEKIT_TEST_CHANNEL_FD", {}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
  pipekit_test::set_env("PIPEKIT_TEST_CHANNEL_FD", "not-a-number");
  (void)channel::from_environment("PIPEKIT_TEST_CHANNEL_FD", {}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
#ifndef _WIN32  // descriptor numbers
  pipekit_test::set_env("PIPEKIT_TEST_CHANNEL_FD", "987654");
  (void)channel::from_environment("PIPEKIT_TEST_CHANNEL_FD", {}, ec);
  EXPECT_TRUE(ec == std::errc::bad_file_descriptor) << ec.message();
  EXPECT_THROW((void)channel::from_inherited_fd(-1), std::system_error);

  // An inherited descriptor (no close-on-exec) is adopted and made close-on-exec.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::setenv("PIPEKIT_TEST_CHANNEL_FD", std::to_string(fds[1]).c_str(), 1);
  channel ch = channel::from_environment("PIPEKIT_TEST_CHANNEL_FD");
  EXPECT_TRUE(::fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
  channel other{pipekit::handle_stream(pipekit::handle(fds[0]))};
  other.send("hi");
  EXPECT_EQ(recv_or_fail(ch), "hi");
  EXPECT_EQ(ch.native_handle(), fds[1]);
#endif
}

TEST(channel, from_inherited_fd_gives_a_one_way_channel_for_a_pipe_end) {
  auto [r, w] = pipekit::make_pipe();
  channel in = channel::from_inherited_fd(r.release_handle().release());
  channel out = channel::from_inherited_fd(w.release_handle().release());
  EXPECT_TRUE(in.can_recv());
  EXPECT_FALSE(in.can_send());
  EXPECT_TRUE(out.can_send());
  EXPECT_FALSE(out.can_recv());
  out.send("through a pipe");
  EXPECT_EQ(recv_or_fail(in), "through a pipe");
}

#ifndef _WIN32  // descriptor flags
TEST(channel, an_end_that_was_never_used_stays_blocking_for_a_child) {
  // Python's Connection needs blocking descriptors: creating a channel, or
  // sending on the *other* end, never switches the end a child will get.
  auto [r, w] = pipekit::channel_pair(false);
  EXPECT_FALSE(::fcntl(w.write_handle(), F_GETFL) & O_NONBLOCK);
  auto [a, b] = pipekit::channel_pair();
  a.send("x");
  EXPECT_FALSE(::fcntl(b.native_handle(), F_GETFL) & O_NONBLOCK);
  EXPECT_FALSE(::fcntl(a.native_handle(), F_GETFL) & O_NONBLOCK);  // sockets: MSG_DONTWAIT per call
  (void)r;
}
#endif

// ---- the poller -----------------------------------------------------------------------

TEST(channel, poller_reports_readable_and_recv_with_a_due_deadline_drains_what_is_there) {
  auto [a, b] = pipekit::channel_pair();
  pipekit::poller poll;
  poll.add(b.read_handle(), pipekit::events::readable, 1);
  pipekit::poll_event ev[4];
  EXPECT_EQ(poll.wait(ev, pipekit::after(30ms)), 0u);
  const std::vector<std::string_view> msgs = {"one", "two", "three"};
  EXPECT_EQ(a.send_batch(msgs), 3u);
  ASSERT_EQ(poll.wait(ev, pipekit::after(test_time)), 1u);
  EXPECT_EQ(ev[0].token, 1u);
  std::vector<std::string> got;
  std::string m;
  std::error_code ec;
  while (b.recv(m, pipekit::clock::now(), ec)) got.push_back(m);
  EXPECT_TRUE(ec == std::errc::timed_out) << ec.message();
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(b.buffered_incoming(), 0u);
  poll.remove(b.read_handle());
}

// ---- threads ---------------------------------------------------------------------------

TEST(channel, concurrent_senders_never_interleave_frames) {
  auto [a, b] = pipekit::channel_pair();
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        // Sizes up to 64 KiB: many frames need several writes.
        const auto n = static_cast<std::size_t>((i * 7919 + t * 104729) % 65536);
        std::string m = std::to_string(t) + ":" + std::to_string(i) + ":" + pattern(n, static_cast<unsigned>(t));
        a.send(m, pipekit::after(test_time));
      }
    });
  }
  std::vector<int> next(threads, 0);
  std::string m;
  for (int k = 0; k < threads * per_thread; ++k) {
    ASSERT_TRUE(b.recv(m, pipekit::after(test_time)));
    const auto c1 = m.find(':');
    const auto c2 = m.find(':', c1 + 1);
    const int t = std::stoi(m.substr(0, c1));
    const int i = std::stoi(m.substr(c1 + 1, c2 - c1 - 1));
    ASSERT_EQ(i, next[static_cast<std::size_t>(t)]++);
    const auto n = static_cast<std::size_t>((i * 7919 + t * 104729) % 65536);
    ASSERT_TRUE(m.substr(c2 + 1) == pattern(n, static_cast<unsigned>(t)));
  }
  for (auto& s : senders) s.join();
}

TEST(channel, concurrent_receivers_each_get_whole_messages) {
  auto [a, b] = pipekit::channel_pair();
  constexpr int count = 2000;
  std::atomic<int> received{0};
  std::atomic<int> damaged{0};
  const auto receiver = [&] {
    std::string m;
    std::error_code ec;
    while (b.recv(m, pipekit::after(test_time), ec)) {
      const auto colon = m.find(':');
      const int i = std::stoi(m.substr(0, colon));
      if (m.substr(colon + 1) != pattern(static_cast<std::size_t>(i % 5000), static_cast<unsigned>(i))) ++damaged;
      ++received;
    }
    EXPECT_FALSE(ec) << ec.message();
  };
  std::thread r1(receiver);
  std::thread r2(receiver);
  for (int i = 0; i < count; ++i)
    a.send(std::to_string(i) + ":" + pattern(static_cast<std::size_t>(i % 5000), static_cast<unsigned>(i)));
  end_sending(a);
  r1.join();
  r2.join();
  EXPECT_EQ(received.load(), count);
  EXPECT_EQ(damaged.load(), 0);
}

TEST(channel, a_sender_and_a_receiver_thread_share_each_end) {
  // Both ends send 16 MiB in 256 KiB messages while their own receiver
  // threads read: sends block on full buffers while a receiver holds the
  // receive side (the path where a blocked send must not read).
  auto [a, b] = pipekit::channel_pair();
  constexpr int count = 64;
  const std::string msg = pattern(256 * kib, 5);
  const auto sender = [&](channel& ch) {
    for (int i = 0; i < count; ++i) ch.send(msg, pipekit::after(test_time));
  };
  const auto receiver = [&](channel& ch) {
    std::string m;
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(ch.recv(m, pipekit::after(test_time)));
      ASSERT_TRUE(m == msg);
    }
  };
  std::thread t1(sender, std::ref(a));
  std::thread t2(sender, std::ref(b));
  std::thread t3(receiver, std::ref(a));
  std::thread t4(receiver, std::ref(b));
  t1.join();
  t2.join();
  t3.join();
  t4.join();
}

#ifndef _WIN32  // a socket pair: a duplex raw peer
TEST(channel, a_protocol_error_during_a_blocked_send_closes_the_channel) {
  // The peer floods a bad header while our sender is blocked (nobody reads
  // what we send): the receiver thread fails, the blocked send wakes and
  // reports the same error, and the handles are released.
  auto f = socket_feed();
  std::error_code send_ec;
  std::thread t([&] { f.ch.send(pattern(8 * mib, 0), pipekit::after(test_time), send_ec); });
  std::string m;
  std::error_code ec;
  f.raw.write_all(be32(0x80000000));
  EXPECT_FALSE(f.ch.recv(m, pipekit::after(test_time), ec));
  EXPECT_EQ(ec, pipekit::errc::protocol_error);
  t.join();
  EXPECT_TRUE(send_ec == pipekit::errc::protocol_error || send_ec == std::errc::broken_pipe) << send_ec.message();
  EXPECT_FALSE(f.ch.is_open());
}
#endif

// ---- over a local server, with authentication -----------------------------------------

TEST(channel, authenticated_channel_over_a_local_server_and_a_wrong_key_refused_both_ways) {
#ifdef _WIN32
  const std::string name = pipekit_test::unique_name("pipekit-test-channel");
#else
  pipekit_test::temp_dir dir;
  const std::string name = dir.socket();
#endif
  pipekit::local_server server = pipekit::local_server::listen(name);
  const std::string key = "secret";
  std::thread client([&] {
    pipekit::local_connection c = pipekit::connect_local(name, pipekit::local_mode::bytes, pipekit::after(test_time));
    channel ch(pipekit::handle_stream(c.release_handle()));
    pipekit::authenticate_client(ch, std::as_bytes(std::span(key)), pipekit::after(test_time));
    ch.send("hello over auth");
    EXPECT_EQ(recv_or_fail(ch), "welcome");
  });
  {
    pipekit::local_connection c = server.accept(pipekit::after(test_time));
    channel ch(pipekit::handle_stream(c.release_handle()));
    pipekit::authenticate_server(ch, std::as_bytes(std::span(key)), pipekit::after(test_time));
    EXPECT_EQ(recv_or_fail(ch), "hello over auth");
    ch.send("welcome");
  }
  client.join();

  const std::string wrong = "wrong";
  std::error_code client_ec;
  std::thread bad([&] {
    pipekit::local_connection c = pipekit::connect_local(name, pipekit::local_mode::bytes, pipekit::after(test_time));
    channel ch(pipekit::handle_stream(c.release_handle()));
    pipekit::authenticate_client(ch, std::as_bytes(std::span(wrong)), pipekit::after(test_time), client_ec);
  });
  pipekit::local_connection c = server.accept(pipekit::after(test_time));
  channel ch(pipekit::handle_stream(c.release_handle()));
  std::error_code server_ec;
  pipekit::authenticate_server(ch, std::as_bytes(std::span(key)), pipekit::after(test_time), server_ec);
  bad.join();
  EXPECT_EQ(server_ec, std::errc::permission_denied) << server_ec.message();
  EXPECT_EQ(client_ec, std::errc::permission_denied) << client_ec.message();
}

}  // namespace
