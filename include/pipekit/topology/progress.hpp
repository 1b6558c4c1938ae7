// Live byte counts of a running fan_in or fan_out, for a progress display.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace pipekit {

// bytes[i]: what child i has moved so far (fan_in: producer i's bytes
// written to the output; fan_out: bytes delivered into consumer i's input).
// Called from the thread that runs the topology, so it need not lock
// anything of its own; keep it short: that thread also supervises.
using progress_callback = std::function<void(std::span<const std::uint64_t> bytes)>;

}  // namespace pipekit
