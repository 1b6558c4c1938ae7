// Internal: the private state of handle_stream that pipe creation and spawn
// manage (the enlarged-pipe budget, see pipe.hpp).
#pragma once

#include <utility>

#include "pipekit/stream.hpp"

namespace pipekit::detail {

struct stream_access {
  static void set_pipe_budget(handle_stream& s, std::size_t bytes) noexcept { s.pipe_budget_ = bytes; }
  // Moves the budget from the end handed to a child to the end the parent keeps.
  static void move_pipe_budget(handle_stream& from, handle_stream& to) noexcept {
    to.give_back_budget();
    to.pipe_budget_ = std::exchange(from.pipe_budget_, 0);
  }
};

}  // namespace pipekit::detail
