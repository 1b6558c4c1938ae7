// The seed's Python subprocess example done with pipekit:
//
//   process = subprocess.Popen(['cat'], stdin=PIPE, stdout=PIPE, stderr=PIPE)
//   process.stdin.write("Hello, pipes!\n"); process.stdin.close()
//   stdout_output = process.stdout.read()
//   return_code = process.wait()
//
// pipekit's process::communicate() does the write, the close and both reads
// together, so a child that fills its stdout pipe while we are still writing
// its stdin cannot deadlock the pair (the seed's "Avoid Deadlocks" advice).
// It returns when stdout and stderr reach end of stream; wait() then collects
// the exit status.
//
// pipekit::run() is the one-call form (like subprocess.run); the second part
// uses it to show that an exit status is reported, not thrown.
// Exits 0 only if cat echoed the input and both exit statuses are as expected.
#include <chrono>
#include <iostream>
#include <string>

#include "pipekit/pipekit.hpp"

int main() {
  try {
    // Part 1: Popen + communicate + wait.
    pipekit::command cat{"cat"};
    cat.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
    pipekit::process process = cat.spawn();

    const std::string message = "Hello, pipes!\n";
    // The deadline bounds the whole exchange; past it communicate() throws
    // std::system_error with std::errc::timed_out.
    const pipekit::communicate_result r = process.communicate(message, pipekit::after(std::chrono::seconds(10)));
    const pipekit::exit_status status = process.wait();

    std::cout << "Received from stdout: " << r.out;
    std::cout << "Process exited with code: " << status.code().value_or(-1) << "\n";
    if (r.out != message || !r.err.empty() || r.input_written != message.size() || status.code() != 0) {
      std::cerr << "FAIL: cat did not echo its input, or did not exit with 0\n";
      return 1;
    }

    // Part 2: run() pipes all three streams, waits, and keeps the status.
    // A non-zero exit is a result, not an exception.
    const pipekit::run_result rr = pipekit::run(pipekit::command{"sh", "-c", "echo out; echo err >&2; exit 3"}, {},
                                                pipekit::after(std::chrono::seconds(10)));
    std::cout << "run(): out='" << rr.out.substr(0, rr.out.find('\n')) << "' err='"
              << rr.err.substr(0, rr.err.find('\n')) << "' " << rr.status.to_string() << "\n";
    if (rr.out != "out\n" || rr.err != "err\n" || rr.status.code() != 3 || rr.status.success()) {
      std::cerr << "FAIL: run() did not report the output and exit code 3\n";
      return 1;
    }

    std::cout << "OK\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
