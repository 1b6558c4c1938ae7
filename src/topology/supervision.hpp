// Internal to the topologies: waiting for and ending a set of supervised
// children (a pipeline's stages, a fan-in's producers) as one.
#pragma once

#include <functional>
#include <system_error>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"
#include "pipekit/topology/pipeline.hpp"

namespace pipekit::detail {

// Starts `c` as stage `st` (its start time, its process). False when it
// could not start: the cause is then in st.result and st is done.
bool start_stage(supervised_stage& st, const command& c);

// Waits for every stage to end. Every 100 ms, and at `until`, it asks
// give_up(); past `until` or when give_up() says so, it ends them all
// (terminate_stages). True when it ended them because `until` passed.
bool wait_stages(std::vector<supervised_stage>& stages, deadline until, const std::function<bool()>& give_up,
                 std::error_code& ec) noexcept;

// Reaps every stage that has ended by `until`, recording its status and run
// time (measured when its exit handle turns readable: a pidfd, a process
// handle). True when all have ended; false when `until` passed first or
// waiting failed (`ec`).
bool collect_stages(std::vector<supervised_stage>& stages, deadline until, std::error_code& ec) noexcept;

// Ends every stage still running and its descendants: options.signal
// (SIGTERM) to all at once, up to options.grace for all to end, then each
// stage's process::terminate() with SIGKILL (its group and the descendants
// that left it). `ec`: the first stage that could not be ended.
void terminate_stages(std::vector<supervised_stage>& stages, const terminate_options& options,
                      std::error_code& ec) noexcept;

}  // namespace pipekit::detail
