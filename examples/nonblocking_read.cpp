// Non-blocking reads: the seed's "Pipes in Blocking vs. Non-Blocking Modes"
// scenario (fcntl(O_NONBLOCK), read() failing with EAGAIN, then polling until
// the data arrives) done with pipekit.
//
// A read on an empty non-blocking pipe does not wait: it fails with
// std::errc::operation_would_block. The three outcomes the seed lists are all
// shown here:
//   - no data yet      -> operation_would_block
//   - data available   -> the bytes (possibly fewer than asked for)
//   - writer closed    -> 0, end of stream
//
// Part 1 uses one pipe inside this process. Part 2 polls a child's stdout, as
// the seed's child polls its parent; the child only writes after we tell it
// to, so the first attempt is certain to find the pipe empty.
// Exits 0 only if every outcome was the expected one.
#include <array>
#include <chrono>
#include <cstddef>
#include <iostream>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include "pipekit/pipekit.hpp"

namespace {

bool fail(const std::string& what) {
  std::cerr << "FAIL: " << what << "\n";
  return false;
}

std::string as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

bool part1_one_pipe() {
  pipekit::pipe_options options;
  options.nonblocking_read = true;  // like fcntl(fd[0], F_SETFL, flags | O_NONBLOCK)
  pipekit::pipe_pair p = pipekit::make_pipe(options);

  std::array<std::byte, 100> buf{};
  std::error_code ec;

  // 1. Empty pipe: returns at once with operation_would_block (EAGAIN).
  std::size_t n = p.read_end.read_some(buf, ec);
  if (ec != std::errc::operation_would_block) return fail("expected operation_would_block, got: " + ec.message());
  std::cout << "read on an empty pipe: " << ec.message() << "\n";

  // Rather than polling by hand, the deadline form waits for data, up to a
  // limit, and reports timed_out when none came.
  n = p.read_end.read_some(buf, pipekit::after(std::chrono::milliseconds(50)), ec);
  if (ec != std::errc::timed_out) return fail("expected timed_out, got: " + ec.message());
  std::cout << "read with a 50 ms deadline: " << ec.message() << "\n";

  // 2. Data available: the read returns it.
  p.write_end.write_all("Data for non-blocking read");
  n = p.read_end.read_some(buf, ec);
  if (ec) return fail("read after write failed: " + ec.message());
  const std::string got = as_text(std::span(buf).first(n));
  std::cout << "read after a write: " << n << " bytes: '" << got << "'\n";
  if (got != "Data for non-blocking read") return fail("wrong data");

  // 3. Writer closed and pipe drained: 0 means end of stream, not "try again".
  p.write_end.close();
  n = p.read_end.read_some(buf, ec);
  if (ec || n != 0) return fail("expected end of stream (0 bytes, no error)");
  std::cout << "read after the writer closed: end of stream\n";
  return true;
}

bool part2_poll_a_child() {
  // The child waits for a line from us, then writes its message and exits.
  pipekit::command cmd{"sh", "-c", "read -r go; echo 'Data from the child'"};
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  pipekit::process child = cmd.spawn();
  child.out().set_nonblocking(true);

  std::array<std::byte, 100> buf{};
  std::error_code ec;
  std::size_t n = child.out().read_some(buf, ec);
  if (ec != std::errc::operation_would_block) return fail("child: expected operation_would_block: " + ec.message());
  std::cout << "child: attempt 1: no data available yet\n";

  child.in().write_all("go\n");
  child.in().close();

  // The seed's polling loop: try, and between attempts do other work (here:
  // sleep). A program with more than one pipe would use pipekit::poller (see
  // multiplex.cpp) instead of spinning.
  std::string received;
  bool eof = false;
  int attempts = 1;
  const auto give_up = pipekit::after(std::chrono::seconds(10));
  while (!eof && pipekit::clock::now() < give_up) {
    ++attempts;
    n = child.out().read_some(buf, ec);
    if (ec == std::errc::operation_would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (ec) return fail("child: read failed: " + ec.message());
    if (n == 0) {
      eof = true;
    } else {
      received += as_text(std::span(buf).first(n));
    }
  }
  if (!eof) return fail("child: no end of stream within 10 s");
  std::cout << "child: after " << attempts << " attempts: '" << received.substr(0, received.size() - 1)
            << "', then end of stream\n";

  const pipekit::exit_status status = child.wait();
  return received == "Data from the child\n" && status.success() ? true : fail("child: wrong data or status");
}

}  // namespace

int main() {
  try {
    const bool ok = part1_one_pipe() && part2_poll_a_child();
    if (!ok) return 1;
    std::cout << "OK\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
