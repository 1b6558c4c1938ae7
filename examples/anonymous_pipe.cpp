// Parent and child talking over anonymous pipes: the seed's "unnamed pipes"
// scenario (C pipe()+fork() and Python os.pipe()+os.fork()) done with pipekit.
//
// Part 1 lets pipekit make the pipes: stdio::pipe() asks for a pipe on the
// child's stdin and stdout, and the parent's ends appear as process::in() and
// process::out().
//
// Part 2 makes the pipe by hand with make_pipe() and gives its read end to the
// child with stdio::from(), which is the closest match to pipe()+fork(). As in
// the seed, each side then closes the end it does not use; otherwise the
// reader would never see end of file.
//
// The child is a two-line sh script: read one line, answer with it.
// Exits 0 only if both replies are exactly what the child should have said.
#include <chrono>
#include <iostream>
#include <string>
#include <system_error>

#include "pipekit/pipekit.hpp"

namespace {

// The child: reads one line from stdin and answers on stdout.
const std::string child_script = R"(read -r line; printf 'child received: %s\n' "$line")";

bool part1_stdio_pipe() {
  pipekit::command cmd{"sh", "-c", child_script};
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  pipekit::process child = cmd.spawn();

  // Write the message, then close our end of the child's stdin: that is the
  // end of file a reader waits for.
  const std::string message = "Hello from parent process!";
  child.in().write_all(message + "\n");
  child.in().close();
  std::cout << "parent sent:     " << message << "\n";

  // read_to_end() returns once the child has exited (its stdout closed).
  const std::string reply = child.out().read_to_end();
  const pipekit::exit_status status = child.wait();
  std::cout << "parent received: " << reply << "child " << status.to_string() << "\n";

  return reply == "child received: " + message + "\n" && status.success();
}

bool part2_make_pipe() {
  // Both ends are close-on-exec: nothing reaches a child unless we hand it over.
  pipekit::pipe_pair to_child = pipekit::make_pipe();

  pipekit::command cmd{"sh", "-c", child_script};
  cmd.set_stdin(pipekit::stdio::from(to_child.read_end.native_handle()))  // the child gets a duplicate
      .set_stdout(pipekit::stdio::pipe());
  pipekit::process child = cmd.spawn();

  // The child holds its own copy of the read end now; close ours ("close
  // unused pipe ends"). If we kept it, the pipe would stay readable from this
  // process too, and a writer could never get broken_pipe.
  to_child.read_end.close();

  const std::string message = "Hello from parent, by hand!";
  to_child.write_end.write_all(message + "\n");
  to_child.write_end.close();
  std::cout << "parent sent:     " << message << "\n";

  // Reads with a deadline never hang a broken example forever.
  std::error_code ec;
  const std::string reply = child.out().read_to_end(pipekit::after(std::chrono::seconds(10)), ec);
  if (ec) {
    std::cerr << "reading the reply failed: " << ec.message() << "\n";
    return false;
  }
  const pipekit::exit_status status = child.wait();
  std::cout << "parent received: " << reply << "child " << status.to_string() << "\n";

  return reply == "child received: " + message + "\n" && status.success();
}

}  // namespace

int main() {
  try {
    const bool ok1 = part1_stdio_pipe();
    const bool ok2 = part2_make_pipe();
    if (!ok1 || !ok2) {
      std::cerr << "FAIL: the child's reply was not the expected one\n";
      return 1;
    }
    std::cout << "OK\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
