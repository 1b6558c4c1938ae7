#include "topology/supervision.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <optional>

#include "pipekit/error.hpp"
#include "pipekit/poller.hpp"

namespace pipekit::detail {

namespace {

constexpr int sigkill_number = 9;

// How long a wait sleeps between polls of stages that have no exit handle
// to wait on (a system without pidfds): short enough that run times stay
// accurate to a few milliseconds.
constexpr std::chrono::milliseconds poll_interval{5};

}  // namespace

bool collect_stages(std::vector<supervised_stage>& stages, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  std::optional<poller> waiter;
  bool registered = false;
  for (;;) {
    bool all_done = true;
    bool some_unwatchable = false;
    for (auto& st : stages) {
      if (st.done) continue;
      std::optional<exit_status> s = st.proc.try_wait(ec);
      if (ec) return false;
      if (s) {
        st.result.status = *s;
        st.result.run_time = clock::now() - st.started;
        st.done = true;
        if (registered) {
          std::error_code ignored;
          waiter->remove(st.proc.native_handle(), ignored);
        }
        continue;
      }
      all_done = false;
      if (st.proc.native_handle() == invalid_native_handle) some_unwatchable = true;
    }
    if (all_done) return true;
    if (until != no_deadline && clock::now() >= until) return false;

    if (!registered) {
      // Each stage's exit handle (a pidfd; a process handle on Windows) in
      // one poller, so the first stage to end is seen when it ends.
      waiter.emplace(poller_backend::automatic, ec);
      if (ec) return false;
      for (std::size_t i = 0; i < stages.size(); ++i) {
        auto& st = stages[i];
        if (st.done || st.proc.native_handle() == invalid_native_handle) continue;
        waiter->add(st.proc.native_handle(), events::readable, i, ec);
        if (ec) return false;
      }
      registered = true;
    }
    deadline next = until;
    if (some_unwatchable) next = std::min(until, clock::now() + poll_interval);
    poll_event evs[16];
    (void)waiter->wait(evs, next, ec);
    if (ec == std::errc::timed_out) ec.clear();
    if (ec) return false;
  }
}

void terminate_stages(std::vector<supervised_stage>& stages, const terminate_options& options,
                      std::error_code& ec) noexcept {
  ec.clear();
  const int first = options.signal == 0 ? SIGTERM : options.signal;
  // The signal to every stage at once, then one grace period for all of
  // them, then each stage's own terminate(): SIGKILL to its group and the
  // descendants that left it, and the reaping.
  for (auto& st : stages) {
    if (st.done) continue;
    std::error_code ignored;
    st.proc.signal_group(first, ignored);
  }
  std::error_code wait_ec;
  if (first != sigkill_number) (void)collect_stages(stages, after(options.grace), wait_ec);
  for (auto& st : stages) {
    if (st.done) continue;
    terminate_options now = options;
    now.signal = sigkill_number;
    now.grace = std::chrono::milliseconds(0);
    std::error_code stage_ec;
    terminate_result t = st.proc.terminate(now, stage_ec);
    if (stage_ec) {
      if (!ec) ec = stage_ec;
      continue;
    }
    st.result.status = t.status;
    st.result.run_time = clock::now() - st.started;
    st.result.killed = true;
    st.done = true;
  }
}

bool start_stage(supervised_stage& st, const command& c) {
  std::error_code ec;
  spawn_failure why;
  st.started = clock::now();
  st.proc = c.spawn(ec, why);
  if (st.proc.valid()) return true;
  st.result.start_error = ec ? ec : make_error_code(errc::invalid_argument);
  st.result.start_failure = why;
  st.done = true;
  return false;
}

bool wait_stages(std::vector<supervised_stage>& stages, deadline until, const std::function<bool()>& give_up,
                 std::error_code& ec) noexcept {
  for (;;) {
    const deadline step = std::min(until, after(std::chrono::milliseconds(100)));
    if (collect_stages(stages, step, ec) || ec) return false;
    const bool late = until != no_deadline && clock::now() >= until;
    bool stop = late;
    try {
      stop = stop || (give_up && give_up());
    } catch (...) {
      stop = true;
    }
    if (stop) {
      std::error_code ignored;
      terminate_stages(stages, terminate_options{}, ignored);
      return late;
    }
  }
}

}  // namespace pipekit::detail
