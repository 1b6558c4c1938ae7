// Uses an installed (or add_subdirectory'd) pipekit: a pipe, `echo hi` with
// communicate(), a program that does not exist, whose spawn_error must be
// catchable here (with a shared libpipekit: across the library boundary,
// which needs the exception's type information exported), and a pipeline
// from pipekit::topology. Exits 0 only if all four worked.
#include <chrono>
#include <iostream>
#include <string>

#include "pipekit/pipekit.hpp"
#include "pipekit/topology/pipeline.hpp"

// run_consumer_test.sh compiles this file with `-std=c++23 $(pkg-config
// --cflags pipekit)`: the flags from pipekit.pc must not lower the standard
// the consumer asked for.
#ifdef PIPEKIT_CONSUMER_EXPECT_CXX23
static_assert(__cplusplus > 202002L, "the consumer asked for C++23, but something lowered the standard");
#endif

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

    bool caught = false;
    try {
      (void)pipekit::command{"pipekit-consumer-no-such-program"}.spawn();
    } catch (const pipekit::spawn_error& e) {
      caught = e.program() == "pipekit-consumer-no-such-program";
    }

    pipekit::pipeline line{{"echo", "a b"}, {"tr", " ", "_"}};
    line.set_stdout(pipekit::stdio::pipe());
    pipekit::running_pipeline running = line.spawn();
    const std::string joined = running.out().read_to_end();
    const pipekit::pipeline_result joined_status = running.wait();

    std::cout << "pipekit " << pipekit::version << ": pipe='" << piped << "' echo='" << r.out.substr(0, 2) << "' "
              << status.to_string() << " spawn_error caught=" << caught << " pipeline='" << joined.substr(0, 3)
              << "'\n";
    return piped == "through a pipe" && r.out == "hi\n" && status.success() && caught && joined == "a_b\n" &&
                   joined_status.success()
               ? 0
               : 1;
  } catch (const std::exception& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
}
