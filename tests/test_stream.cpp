// stream: what each kind of stream says it can do (stream_caps), the mode
// switch every stream shares, and the fast path a channel takes because of
// it — over pipes, local connections and FIFO readers alike.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "helpers/local_fixture.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/stream.hpp"
#if !defined(_WIN32)
#include "helpers/temp_dir.hpp"
#include "pipekit/fifo.hpp"
#endif

namespace {

using namespace std::chrono_literals;
using pipekit::stream_caps;

bool has(stream_caps caps, stream_caps c) { return any(caps & c); }

// Local connections come from the local tests' fixture: a server name of
// each test's own.
using stream_local = pipekit_test::local;

TEST(stream, a_pipe_end_offers_its_handle_and_gather_writes) {
  auto [r, w] = pipekit::make_pipe();
  for (pipekit::handle_stream* s : {&r, &w}) {
    const stream_caps caps = s->capabilities();
    EXPECT_TRUE(has(caps, stream_caps::native_handle));
    EXPECT_TRUE(has(caps, stream_caps::gather_write));
    EXPECT_FALSE(has(caps, stream_caps::event_source));
    EXPECT_EQ(s->event_source(), nullptr);
#if defined(_WIN32)
    EXPECT_FALSE(has(caps, stream_caps::nonblocking));  // overlapped I/O and deadlines instead
#else
    EXPECT_TRUE(has(caps, stream_caps::nonblocking));
#endif
  }
  w.close();
  EXPECT_EQ(w.capabilities(), stream_caps::none);
  EXPECT_EQ(w.native_handle(), pipekit::invalid_native_handle);
}

TEST(stream, set_nonblocking_goes_through_the_stream_interface) {
  auto [r, w] = pipekit::make_pipe();
  pipekit::stream& s = r;
  std::error_code ec;
  EXPECT_FALSE(s.nonblocking());
  s.set_nonblocking(true, ec);
#if defined(_WIN32)
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  EXPECT_FALSE(s.nonblocking());
#else
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(s.nonblocking());
  std::byte b[4];
  (void)s.read_some(b, ec);
  EXPECT_EQ(ec, std::errc::operation_would_block);
  s.set_nonblocking(false);
  EXPECT_FALSE(s.nonblocking());
#endif
}

TEST(stream, wait_for_readable_or_writable_returns_when_either_is_ready) {
  auto [r, w] = pipekit::make_pipe();
  EXPECT_FALSE(r.wait(pipekit::events::readable, pipekit::after(30ms)));
  EXPECT_TRUE(w.wait(pipekit::events::readable | pipekit::events::writable, pipekit::after(30s)));
  w.write_all("x");
  EXPECT_TRUE(r.wait(pipekit::events::readable, pipekit::after(30s)));
}

TEST_F(stream_local, a_local_connection_gathers_writes_only_in_byte_mode) {
  for (const pipekit::local_mode mode : {pipekit::local_mode::bytes, pipekit::local_mode::messages}) {
    const std::string name = path(mode == pipekit::local_mode::bytes ? "b.sock" : "m.sock");
    auto server = pipekit::local_server::listen(name, {.mode = mode});
    auto client = pipekit::connect_local(name, mode, pipekit::after(30s));
    auto conn = server.accept(pipekit::after(30s));
    for (const pipekit::local_connection* c : {&client, &conn}) {
      EXPECT_TRUE(has(c->capabilities(), stream_caps::native_handle));
      // A gather write would end a message at each piece (or join them).
      EXPECT_EQ(has(c->capabilities(), stream_caps::gather_write), mode == pipekit::local_mode::bytes);
    }
  }
}

#if !defined(_WIN32)
TEST(stream, a_fifo_reader_offers_its_read_handle_and_nonblocking_mode) {
  pipekit_test::temp_dir dir;
  const std::string path = dir / "f";
  pipekit::create_fifo(path);
  auto r = pipekit::fifo_reader::open(path);
  const stream_caps caps = r.capabilities();
  EXPECT_TRUE(has(caps, stream_caps::native_handle));
  EXPECT_TRUE(has(caps, stream_caps::nonblocking));
  EXPECT_FALSE(has(caps, stream_caps::gather_write));  // it only reads
  std::error_code ec;
  r.set_nonblocking(true, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::byte b[4];
  (void)r.read_some(b, ec);
  EXPECT_EQ(ec, std::errc::operation_would_block);  // its own write end keeps it from the end
}
#endif

// Two peers that each send a message larger than the OS buffers before
// reading: each send() must take in the other's data meanwhile. Over a
// local connection that needs the channel to write the connection's handle
// itself (stream_caps::gather_write), as it does for a socketpair.
TEST_F(stream_local, channels_over_a_local_connection_both_sending_large_messages_both_finish) {
  auto server = pipekit::local_server::listen(path());
  auto client = pipekit::connect_local(path(), pipekit::local_mode::bytes, pipekit::after(30s));
  auto conn = server.accept(pipekit::after(30s));
  pipekit::channel a(std::make_unique<pipekit::local_connection>(std::move(client)));
  pipekit::channel b(std::make_unique<pipekit::local_connection>(std::move(conn)));
  const std::string ma = pipekit_test::pattern(8 * 1024 * 1024);
  const std::string mb = pipekit_test::pattern(8 * 1024 * 1024 + 7);  // not the same message
  std::error_code ea;
  std::error_code eb;
  std::string got_a;
  std::string got_b;
  std::thread ta([&] {
    a.send(ma, pipekit::after(60s), ea);
    if (!ea) (void)a.recv(got_a, pipekit::after(60s), ea);
  });
  std::thread tb([&] {
    b.send(mb, pipekit::after(60s), eb);
    if (!eb) (void)b.recv(got_b, pipekit::after(60s), eb);
  });
  ta.join();
  tb.join();
  EXPECT_FALSE(ea) << ea.message();
  EXPECT_FALSE(eb) << eb.message();
  EXPECT_TRUE(got_a == mb);
  EXPECT_TRUE(got_b == ma);
}

}  // namespace

namespace {

// splice_some(): a relay between two pipes (splice(2) on Linux, a buffer
// elsewhere) moves every byte in order and reports the ends.
TEST(splice_some, moves_every_byte_between_two_pipes_then_reports_the_end) {
  pipekit::pipe_pair in = pipekit::make_pipe();
  pipekit::pipe_pair out = pipekit::make_pipe();
  const std::string data = pipekit_test::pattern(3 << 20);
  std::thread writer([&] {
    in.write_end.write_all(data);
    in.write_end.close();
  });
  std::string got;
  std::thread reader([&] { got = out.read_end.read_to_end(); });
  std::error_code ec;
  std::size_t total = 0;
  for (std::size_t n; (n = pipekit::splice_some(in.read_end, out.write_end, 1 << 20, pipekit::after(20s), ec)) > 0;)
    total += n;
  EXPECT_FALSE(ec) << ec.message();
  out.write_end.close();
  writer.join();
  reader.join();
  EXPECT_EQ(total, data.size());
  EXPECT_TRUE(got == data);
}

TEST(splice_some, a_destination_without_reader_is_broken_pipe_not_a_signal) {
  pipekit::pipe_pair in = pipekit::make_pipe();
  pipekit::pipe_pair out = pipekit::make_pipe();
  out.read_end.close();
  in.write_end.write_all("some bytes");
  std::error_code ec;
  EXPECT_EQ(pipekit::splice_some(in.read_end, out.write_end, 1 << 20, pipekit::after(5s), ec), 0u);
  EXPECT_EQ(ec, std::errc::broken_pipe);  // and this process is still alive: no SIGPIPE
}

TEST(splice_some, times_out_when_nothing_comes) {
  pipekit::pipe_pair in = pipekit::make_pipe();
  pipekit::pipe_pair out = pipekit::make_pipe();
  std::error_code ec;
  EXPECT_EQ(pipekit::splice_some(in.read_end, out.write_end, 1 << 20, pipekit::after(50ms), ec), 0u);
  EXPECT_EQ(ec, std::errc::timed_out);
}

}  // namespace
