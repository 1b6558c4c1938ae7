// pipeline: commands joined stdout -> stdin, as a value; spawn() runs it,
// wait() reports every stage, not only the last (bash without pipefail).
//
//   pipekit::pipeline p{{"grep", "-v", "^#"}, {"sort"}, {"uniq", "-c"}};
//   p.set_stdin(pipekit::stdio::file("words.txt", pipekit::file_mode::read))
//    .set_stdout(pipekit::stdio::pipe());
//   pipekit::running_pipeline r = p.spawn();
//   std::string counts = r.out().read_to_end();
//   pipekit::pipeline_result res = r.wait();
//   res.success();           // every stage exited 0
//   res.pipefail_status();   // the rightmost failure, as `set -o pipefail` reports it
//
// Each stage is a `command` with all its settings; the pipeline owns only
// the ends: the first stage's stdin and the last one's stdout (set_stdin /
// set_stdout; a stage's own setting for those is replaced), and what joins
// the stages — one OS pipe per edge (of the OS's default capacity, as a
// shell's), shared by the two stages directly, so the data never passes
// through this process. A stage's stderr is its
// command's: inherited (the default), a file, stdio::to_stdout() (merged
// into the edge, 2>&1), null, or stdio::pipe() (captured: stage(i).err()).
//
// Metered edges (meter()): each edge gets a relay in this process between
// two pipes, which counts the bytes that pass; on Linux it moves them with
// splice(2) (splice_some() in pipe.hpp), so counting costs no copy.
// Counters are readable while the pipeline runs (edge_bytes()) and in the
// result. A relay closes its downstream pipe at the end of its upstream, and
// its upstream pipe when the downstream reader has gone, so stages see the
// ends and broken pipes they would see over one pipe — except that a
// metered edge holds more bytes (two pipes of pipekit's 1 MiB, so that the
// relay is not woken for every 64 KiB), so a writer whose reader exits
// early may finish where over one OS-sized pipe it got SIGPIPE.
//
// Start failures: a stage whose program cannot start (not found, not
// executable, a bad working directory) is reported with its index and
// program. By default (on_start_failure::stop) nothing is left running: the
// stages already started are killed and reaped and spawn() fails. With
// on_start_failure::run_others the pipeline runs like a shell's: the other
// stages run, the failed stage's edges are closed (its neighbours see end
// of stream and a broken pipe), and its result says why it did not start.
//
// Thread-safety: a running_pipeline is one object, not synchronised; one
// thread may read out() while another writes in().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/process.hpp"

namespace pipekit {

enum class on_start_failure {
  stop,        // kill and reap what started; spawn() fails (the default)
  run_others,  // like a shell: the rest runs, the failure is in the result
};

// What happened to one stage.
struct stage_result {
  // How it ended; "not started" (exit_status{}) when it could not start.
  exit_status status;
  // Why it could not start (empty when it started), and at which step.
  std::error_code start_error;
  spawn_failure start_failure;
  // From its start to the moment this process saw it end (0 when it did not start).
  std::chrono::nanoseconds run_time{0};
  // True when terminate() had to SIGKILL it.
  bool killed = false;
};

// What passed through one metered edge (from stage i to stage i + 1).
struct edge_result {
  std::uint64_t bytes = 0;
  // From the pipeline's start to the end of the edge's stream.
  std::chrono::nanoseconds duration{0};
  // What ended the edge other than the end of its stream: broken_pipe when
  // the downstream stage stopped reading first (what the upstream stage then
  // got too); empty otherwise.
  std::error_code error;
  [[nodiscard]] PIPEKIT_EXPORT double bytes_per_second() const noexcept;
};

struct pipeline_result {
  std::vector<stage_result> stages;
  // One per edge when the pipeline was metered, else empty.
  std::vector<edge_result> edges;

  // Every stage started and exited with 0.
  [[nodiscard]] PIPEKIT_EXPORT bool success() const noexcept;
  // The index of the rightmost stage that failed (did not start, exited
  // non-zero or was killed by a signal); nullopt when all succeeded.
  [[nodiscard]] PIPEKIT_EXPORT std::optional<std::size_t> rightmost_failure() const noexcept;
  // The status `set -o pipefail` gives: the rightmost failure's status
  // (exit_status{}, "not started", for a stage that could not start), or a
  // success when every stage succeeded.
  [[nodiscard]] PIPEKIT_EXPORT exit_status pipefail_status() const noexcept;
  // The number bash prints for $? under pipefail: 0; or the rightmost
  // failure's exit code, 128 + its signal, 127 when its program was not
  // found, 126 when it was found but could not be executed, 1 when it could
  // not start for another reason (a file to open, a working directory).
  [[nodiscard]] PIPEKIT_EXPORT int shell_code() const noexcept;
};

// Which stage could not start, besides the error code.
struct pipeline_failure {
  std::size_t stage = 0;
  std::string program;
  spawn_failure why;
};

// A stage that cannot start, from the throwing spawn(): what() says
// "stage 2 (nosuchprog): ...", code() is the stage's error.
class PIPEKIT_EXPORT pipeline_error : public std::system_error {
 public:
  pipeline_error(std::error_code ec, pipeline_failure failure);
  [[nodiscard]] const pipeline_failure& failure() const noexcept { return failure_; }

 private:
  pipeline_failure failure_;
};

class running_pipeline;

class PIPEKIT_EXPORT pipeline {
 public:
  pipeline() = default;
  pipeline(std::initializer_list<command> stages);
  explicit pipeline(std::vector<command> stages);

  // Appends a stage.
  pipeline& add(command stage);
  // The first stage's stdin: inherit (the default), null, a file, a handle
  // (stdio::from), or stdio::pipe() to write it through running_pipeline::in().
  pipeline& set_stdin(stdio s);
  // The last stage's stdout: the same choices; stdio::pipe() to read it
  // through running_pipeline::out().
  pipeline& set_stdout(stdio s);
  pipeline& when_start_fails(on_start_failure action);
  // Counts the bytes on every edge (see "Metered edges"). Off by default:
  // then the stages share each pipe directly.
  pipeline& meter(bool on = true);

  [[nodiscard]] const std::vector<command>& stages() const noexcept { return stages_; }
  [[nodiscard]] const stdio& stdin_setting() const noexcept { return stdin_; }
  [[nodiscard]] const stdio& stdout_setting() const noexcept { return stdout_; }
  [[nodiscard]] on_start_failure start_failure_action() const noexcept { return on_start_failure_; }
  [[nodiscard]] bool metered() const noexcept { return meter_; }

  // Starts every stage, left to right. An empty pipeline, or a stage that
  // is invalid as a command, is errc::invalid_argument before anything
  // starts. A stage that cannot start: see "Start failures" above; the
  // throwing form throws pipeline_error, the others set `ec` (and `why`).
  // With on_start_failure::run_others, spawn() succeeds unless no stage at
  // all could start.
  [[nodiscard]] running_pipeline spawn() const;
  [[nodiscard]] running_pipeline spawn(std::error_code& ec) const;
  [[nodiscard]] running_pipeline spawn(std::error_code& ec, pipeline_failure& why) const;

 private:
  std::vector<command> stages_;
  stdio stdin_ = stdio::inherit();
  stdio stdout_ = stdio::inherit();
  on_start_failure on_start_failure_ = on_start_failure::stop;
  bool meter_ = false;
};

namespace detail {
struct edge_relay;
// One supervised child of a topology (a pipeline's stage, a fan-in's
// producer): src/topology/supervision.hpp waits for and ends them.
struct supervised_stage {
  process proc;
  clock::time_point started{};
  stage_result result;
  bool done = false;  // result is final (ended and reaped, or never started)
};
}  // namespace detail

class PIPEKIT_EXPORT running_pipeline {
 public:
  running_pipeline() noexcept;
  running_pipeline(running_pipeline&&) noexcept;
  running_pipeline& operator=(running_pipeline&&) noexcept;
  // Stages still running are handled as each command's when_destroyed()
  // says (killed and reaped by default); relays are stopped and joined.
  ~running_pipeline();

  [[nodiscard]] std::size_t size() const noexcept { return stages_.size(); }
  // Stage i's process (not valid() when it could not start).
  [[nodiscard]] process& stage(std::size_t i) { return stages_.at(i).proc; }
  // The first stage's stdin and the last one's stdout when the pipeline
  // asked for stdio::pipe() (closed streams otherwise).
  [[nodiscard]] handle_stream& in() noexcept { return in_; }
  [[nodiscard]] handle_stream& out() noexcept { return out_; }
  // Bytes through edge i so far (0 when not metered); any thread, any time.
  [[nodiscard]] std::uint64_t edge_bytes(std::size_t i) const noexcept;
  [[nodiscard]] std::size_t edge_count() const noexcept { return relays_.size(); }

  // Waits for every stage and returns their results. Throws
  // std::system_error if waiting fails (the error_code form sets `ec`; the
  // stages collected so far are in the result).
  pipeline_result wait();
  pipeline_result wait(std::error_code& ec) noexcept;
  // nullopt when `until` passes with a stage still running (they keep
  // running; call terminate() to end them).
  std::optional<pipeline_result> wait_until(deadline until);
  std::optional<pipeline_result> wait_until(deadline until, std::error_code& ec) noexcept;

  // Ends every stage still running and its descendants: options.signal
  // (SIGTERM) to all of them at once, up to options.grace for all to end,
  // then SIGKILL to every group (the reach of process::terminate()). Waits
  // for all stages and returns their results.
  pipeline_result terminate(const terminate_options& options = {});
  pipeline_result terminate(const terminate_options& options, std::error_code& ec) noexcept;

 private:
  friend class pipeline;
  // Collects every stage that has ended by `until`; true when all have.
  bool collect(deadline until, std::error_code& ec) noexcept;
  // Once every stage has ended: stops the relays and waits for them.
  void finish_relays() noexcept;
  pipeline_result result() const;

  std::vector<detail::supervised_stage> stages_;
  std::vector<std::unique_ptr<detail::edge_relay>> relays_;
  handle_stream in_;
  handle_stream out_;
};

}  // namespace pipekit
