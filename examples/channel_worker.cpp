// The seed's parent–child pattern with messages instead of bytes, on any
// system: the parent hands one end of a duplex channel to a worker (itself,
// started again with `worker`), sends it jobs, and reads one reply per job.
// The framing is Python's multiprocessing.connection's, so the worker could
// as well be a Python program using
//   Connection(int(os.environ["PIPEKIT_CHANNEL_FD"])).
// Exits 0 only if every job came back answered, in order.
#include <iostream>
#include <string>

#include "pipekit/pipekit.hpp"

namespace {

int worker() {
  pipekit::channel ch = pipekit::channel::from_environment();  // finds its end
  std::string job;
  while (ch.recv(job)) ch.send("done: " + job);  // until the parent closes
  return 0;
}

int parent(const char* self) {
  auto [mine, theirs] = pipekit::channel_pair();
  pipekit::command cmd{self, "worker"};
  pipekit::pass_channel(cmd, theirs);  // the handle, and where the worker finds it
  pipekit::process child = cmd.spawn();
  theirs.close();  // the worker holds its copy now

  bool all_answered = true;
  for (const std::string job : {"resize image 1", "resize image 2", ""}) {
    mine.send(job);
    std::string reply;
    all_answered = mine.recv(reply) && reply == "done: " + job && all_answered;
    std::cout << "sent '" << job << "', got '" << reply << "'\n";
  }
  mine.close();  // the worker's recv() returns false: it exits
  const pipekit::exit_status status = child.wait();
  std::cout << "worker " << status.to_string() << "\n";
  return all_answered && status.success() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc == 2 && std::string(argv[1]) == "worker") return worker();
  return parent(argv[0]);
} catch (const std::exception& e) {
  std::cerr << "channel_worker: " << e.what() << "\n";
  return 1;
}
