// signal_relay: turns signals into bytes on a pipe, so `pipekit run` can wait
// for them with the same poller as everything else (the self-pipe trick).
//
// While a relay exists, the listed signals no longer take their default
// action in this process: each delivery writes the signal number to the
// pipe, and take() returns what arrived. The destructor puts the previous
// handlers back. At most one relay may exist at a time (the handler writes to
// one process-wide descriptor). Only the CLI does this; the library never
// installs signal handlers.
#pragma once

#include <csignal>
#include <vector>

#include "pipekit/native_handle.hpp"
#include "pipekit/pipe.hpp"

namespace pipekit::cli {

class signal_relay {
 public:
  explicit signal_relay(const std::vector<int>& signals);
  signal_relay(const signal_relay&) = delete;
  signal_relay& operator=(const signal_relay&) = delete;
  ~signal_relay();

  // Readable when a signal arrived.
  [[nodiscard]] native_handle_type poll_handle() const noexcept { return pipe_.read_end.native(); }
  // The signals that arrived since the last call, oldest first (repeats of
  // one signal may merge, as they do for the kernel).
  [[nodiscard]] std::vector<int> take();

 private:
  void restore() noexcept;

  pipe_pair pipe_;
  std::vector<std::pair<int, struct sigaction>> previous_;
};

}  // namespace pipekit::cli
