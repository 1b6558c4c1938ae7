// The Windows poller on what only Windows has: handles pipekit did not make
// (CreatePipe, event objects), more pipes than WaitForMultipleObjects takes,
// write readiness that pipes lack. The cases both systems share are in
// test_poller.cpp. <windows.h> is used only to make those handles.
#include <gtest/gtest.h>
#include <windows.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit::events;

TEST(windows_poller, a_pipe_registered_for_writable_is_always_writable) {
  // Windows has no write readiness for pipes (documented in poller.hpp).
  pipekit::poller p;
  auto [r, w] = pipekit::make_pipe();
  p.add(w.native_handle(), events::writable, 7);
  pipekit::poll_event ev[2];
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 7u);
  EXPECT_TRUE(pipekit::any(ev[0].what & events::writable));
}

TEST(windows_poller, a_hundred_pipes_more_than_wait_for_multiple_objects_takes) {
  pipekit::poller p;
  std::vector<pipekit::pipe_pair> pipes;
  for (int i = 0; i < 100; ++i) {
    pipes.push_back(pipekit::make_pipe());
    p.add(pipes.back().read_end.native_handle(), events::readable, static_cast<std::uint64_t>(i));
  }
  pipekit::poll_event ev[128];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);
  for (int i : {3, 64, 99}) pipes[static_cast<std::size_t>(i)].write_end.write_all("x");
  std::vector<std::uint64_t> seen;
  const pipekit::deadline until = pipekit::after(5s);
  while (seen.size() < 3 && pipekit::clock::now() < until) {
    const std::size_t n = p.wait(ev, until);
    for (std::size_t k = 0; k < n; ++k) {
      seen.push_back(ev[k].token);
      char c;
      (void)pipes[ev[k].token].read_end.read_some(std::as_writable_bytes(std::span(&c, 1)));
    }
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{3, 64, 99}));
}

TEST(windows_poller, a_synchronous_pipe_from_create_pipe_is_watched_too) {
  HANDLE rh = nullptr;
  HANDLE wh = nullptr;
  ASSERT_TRUE(::CreatePipe(&rh, &wh, nullptr, 0));
  pipekit::handle_stream r{pipekit::handle{rh}};
  pipekit::handle_stream w{pipekit::handle{wh}};
  pipekit::poller p;
  p.add(r.native_handle(), events::readable, 9);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(30ms)), 0u);
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    w.write_all("hi");
  });
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 9u);
  t.join();
  char buf[4];
  EXPECT_EQ(r.read_some(std::as_writable_bytes(std::span(buf))), 2u);
}

TEST(windows_poller, an_event_object_is_readable_when_set) {
  pipekit::handle event{::CreateEventW(nullptr, TRUE, FALSE, nullptr)};
  pipekit::poller p;
  p.add(event.native_handle(), events::readable, 11);
  pipekit::poll_event ev[2];
  EXPECT_EQ(p.wait(ev, pipekit::after(20ms)), 0u);
  ::SetEvent(event.native_handle());
  ASSERT_EQ(p.wait(ev, pipekit::after(5s)), 1u);
  EXPECT_EQ(ev[0].token, 11u);
  ::ResetEvent(event.native_handle());
  EXPECT_EQ(p.wait(ev, pipekit::after(50ms)), 0u);
}

}  // namespace
