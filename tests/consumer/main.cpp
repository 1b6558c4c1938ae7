// Uses the installed pipekit: a pipe, and `echo hi` with communicate().
// Exits 0 only if both worked.
#include <chrono>
#include <iostream>
#include <string>

#include "pipekit/pipekit.hpp"

int main() {
  try {
    pipekit::pipe_pair p = pipekit::make_pipe();
    p.write_end.write_all("through a pipe");
    p.write_end.close();
    const std::string piped = p.read_end.read_to_end();

    pipekit::command cmd{"echo", "hi"};
    cmd.set_stdout(pipekit::stdio::pipe());
    pipekit::process child = cmd.spawn();
    const pipekit::communicate_result r = child.communicate({}, pipekit::after(std::chrono::seconds(10)));
    const pipekit::exit_status status = child.wait();

    std::cout << "pipekit " << pipekit::version << ": pipe='" << piped << "' echo='" << r.out.substr(0, 2) << "' "
              << status.to_string() << "\n";
    return piped == "through a pipe" && r.out == "hi\n" && status.success() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
}
