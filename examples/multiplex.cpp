// Multiplexing: the seed's "Multiplexed I/O with Non-Blocking Pipes" scenario
// (two children, two pipes, one select() loop in the parent) done with
// pipekit::poller (epoll on Linux, poll() elsewhere).
//
// The parent waits on both children's stdout at once and handles whichever is
// ready, printing data in the order it arrives, until both pipes are closed.
//
// The seed orders its children with sleep(2) and sleep(4). Timing is not a
// reliable order on a busy machine, so here child 2 waits for a word from the
// parent, which the parent sends only once child 1's data has arrived. The
// arrival order is then certain and the example can check it.
// Exits 0 only if both messages arrived, in that order, and both pipes closed.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "pipekit/pipekit.hpp"

int main() {
  try {
    // Child 1 writes at once; child 2 writes once it has read a line from us.
    pipekit::command cmd1{"sh", "-c", "echo 'Data from child 1'"};
    cmd1.set_stdout(pipekit::stdio::pipe());
    pipekit::command cmd2{"sh", "-c", "read -r go; echo 'Data from child 2'"};
    cmd2.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());

    std::array<pipekit::process, 2> children{cmd1.spawn(), cmd2.spawn()};

    // One registration per pipe; the token (here the child's index) tells the
    // events apart. The poller does not own the handles.
    pipekit::poller poller;
    for (std::uint64_t i = 0; i < children.size(); ++i)
      poller.add(children[i].out().native_handle(), pipekit::events::readable, i);
    const bool epoll = poller.backend() == pipekit::poller_backend::epoll;
    std::cout << "parent: monitoring both pipes with " << (epoll ? "epoll" : "poll") << "\n";

    std::array<std::string, 2> received;
    std::vector<std::size_t> arrival_order;  // child index of each chunk of data, as it came
    std::size_t pipes_open = children.size();
    bool told_child2 = false;
    const pipekit::deadline give_up = pipekit::after(std::chrono::seconds(10));

    std::array<pipekit::poll_event, 4> ready;
    while (pipes_open > 0) {
      const std::size_t n = poller.wait(ready, give_up);
      if (n == 0) {
        std::cerr << "FAIL: nothing arrived for 10 s\n";
        return 1;
      }
      for (const pipekit::poll_event& ev : std::span(ready).first(n)) {
        const std::size_t i = ev.token;
        // readable, hangup or error: in every case a read tells what happened
        // (data, 0 for end of stream, or the error), and it cannot block
        // because the poller said the pipe is ready.
        std::array<std::byte, 256> buf{};
        const std::size_t got = children[i].out().read_some(buf);
        if (got == 0) {
          std::cout << "parent: pipe " << i + 1 << " closed\n";
          poller.remove(children[i].out().native_handle());
          children[i].out().close();
          --pipes_open;
          continue;
        }
        const std::string text(reinterpret_cast<const char*>(buf.data()), got);
        std::cout << "received from pipe " << i + 1 << ": " << text;
        received[i] += text;
        arrival_order.push_back(i);

        // Child 1 has spoken: now let child 2 speak.
        if (i == 0 && !told_child2 && received[0].ends_with('\n')) {
          children[1].in().write_all("go\n");
          children[1].in().close();
          told_child2 = true;
        }
      }
    }
    std::cout << "parent: all pipes closed\n";

    bool ok = received[0] == "Data from child 1\n" && received[1] == "Data from child 2\n";
    // Each message may come in more than one piece, but all of child 1's
    // pieces must come before any of child 2's.
    for (std::size_t k = 1; k < arrival_order.size(); ++k)
      if (arrival_order[k] < arrival_order[k - 1]) ok = false;
    for (pipekit::process& child : children) {
      const pipekit::exit_status status = child.wait();
      if (!status.success()) {
        std::cerr << "child " << status.to_string() << "\n";
        ok = false;
      }
    }
    if (!ok) {
      std::cerr << "FAIL: the data, its order or an exit status was not as expected\n";
      return 1;
    }
    std::cout << "OK\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "FAIL: " << e.what() << "\n";
    return 1;
  }
}
