// Broken pipes: the seed's "Handle Pipe Breaks" advice ("When a pipe's read
// end is closed, writes to the write end generate SIGPIPE") and how pipekit
// turns that signal into an ordinary error.
//
// With plain write(), writing to a pipe nobody reads any more raises SIGPIPE,
// whose default action kills the writer. pipekit's writes fail with
// std::errc::broken_pipe instead, and the process carries on, without pipekit
// installing a signal handler or changing the process's SIGPIPE disposition.
//
// Part 1 closes the read end of our own pipe; part 2 writes to a child that
// exited without reading its stdin. Both the error_code form and the throwing
// form are shown.
// Exits 0 only if every write reported broken_pipe and we are still alive to
// say so.
#include <csignal>
#include <iostream>
#include <string>
#include <system_error>

#include "pipekit/pipekit.hpp"

namespace {

bool part1_own_pipe() {
  pipekit::pipe_pair p = pipekit::make_pipe();
  p.read_end.close();  // nobody can read any more

  // error_code form: no exception, the code says what happened.
  std::error_code ec;
  const std::size_t written = p.write_end.write_all("hello?", ec);
  std::cout << "write after the reader closed: " << ec.message() << " (" << written << " bytes written)\n";
  if (ec != std::errc::broken_pipe || written != 0) return false;

  // Throwing form: std::system_error carrying the same code.
  try {
    p.write_end.write_all("hello again?");
    std::cerr << "the write unexpectedly succeeded\n";
    return false;
  } catch (const std::system_error& e) {
    std::cout << "throwing form: " << e.what() << "\n";
    return e.code() == std::errc::broken_pipe;
  }
}

bool part2_child_that_does_not_read() {
  // `true` would do, but sh is on every machine: exit at once, stdin unread.
  pipekit::command cmd{"sh", "-c", "exit 0"};
  cmd.set_stdin(pipekit::stdio::pipe());
  pipekit::process child = cmd.spawn();
  // Once it has exited, the last read end of its stdin pipe is gone.
  const pipekit::exit_status status = child.wait();

  std::error_code ec;
  const std::size_t written = child.in().write_all("data nobody will read\n", ec);
  std::cout << "write to a child that " << status.to_string() << ": " << ec.message() << " (" << written
            << " bytes written)\n";
  return ec == std::errc::broken_pipe && status.success();
}

}  // namespace

int main() {
#ifdef SIGPIPE
  // Make sure a SIGPIPE would really kill us (an ignored disposition can be
  // inherited from whoever started this program): surviving then proves that
  // pipekit, not luck, kept the signal away.
  std::signal(SIGPIPE, SIG_DFL);
#endif
  try {
    const bool ok1 = part1_own_pipe();
    const bool ok2 = part2_child_that_does_not_read();
    if (!ok1 || !ok2) {
      std::cerr << "FAIL: a write did not report broken_pipe\n";
      return 1;
    }
    std::cout << "still running after writing to broken pipes: OK\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
