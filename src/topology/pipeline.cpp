#include "pipekit/topology/pipeline.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <new>
#include <thread>
#include <utility>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"
#include "topology/supervision.hpp"

namespace pipekit {

namespace detail {

// The relay of one metered edge: a thread that moves what the upstream
// stage writes into the downstream stage's pipe and counts it.
struct edge_relay {
  handle_stream from;  // the read end of the upstream stage's pipe
  handle_stream to;    // the write end of the downstream stage's pipe
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> stop{false};
  clock::time_point started{};
  edge_result result;  // written by the thread, read once it is joined
  std::thread thread;
  bool joined = false;  // result is final

  // How often a relay waiting for data looks at `stop`: what a wait() may
  // take beyond the last stage's end when a stage's descendant still holds
  // a pipe.
  static constexpr std::chrono::milliseconds stop_check{100};

  void run() noexcept {
    std::error_code ec;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::size_t n = splice_some(from, to, std::size_t{1} << 20, after(stop_check), ec);
      if (ec == std::errc::timed_out) {
        ec.clear();
        continue;
      }
      if (ec || n == 0) break;
      bytes.fetch_add(n, std::memory_order_relaxed);
    }
    // The downstream stage sees the end; the upstream one, if it writes
    // again, the broken pipe it would have seen over one pipe.
    std::error_code ignored;
    to.close(ignored);
    from.close(ignored);
    result.bytes = bytes.load(std::memory_order_relaxed);
    result.duration = clock::now() - started;
    result.error = ec;
  }

  void join() noexcept {
    stop.store(true, std::memory_order_relaxed);
    if (thread.joinable()) thread.join();
    joined = true;
  }
};

}  // namespace detail

namespace {

constexpr int sigkill_number = 9;

bool failed(const stage_result& s) noexcept { return s.start_error || !s.status.success(); }

std::string describe(const pipeline_failure& f, const std::error_code& ec) {
  std::string text = "stage " + std::to_string(f.stage) + " (" + f.program + "): ";
  text += to_string(f.why.stage);
  if (!f.why.detail.empty()) text += " " + f.why.detail;
  text += ": " + ec.message();
  return text;
}

}  // namespace

bool pipeline_result::success() const noexcept { return std::none_of(stages.begin(), stages.end(), failed); }

std::optional<std::size_t> pipeline_result::rightmost_failure() const noexcept {
  for (std::size_t i = stages.size(); i-- > 0;)
    if (failed(stages[i])) return i;
  return std::nullopt;
}

exit_status pipeline_result::pipefail_status() const noexcept {
  const auto i = rightmost_failure();
  if (!i) return exit_status::exited(0);
  return stages[*i].status;
}

int pipeline_result::shell_code() const noexcept {
  const auto i = rightmost_failure();
  if (!i) return 0;
  const stage_result& s = stages[*i];
  if (s.start_error) {
    // What a shell says for a command it could not run: 127 when the program
    // does not exist, 126 when it exists but cannot be executed, 1 when
    // something before it failed (a redirection, the directory).
    if (s.start_failure.stage != spawn_stage::exec) return 1;
    const bool not_found =
        s.start_error == std::errc::no_such_file_or_directory || s.start_error == std::errc::not_a_directory;
    return not_found ? 127 : 126;
  }
  return s.status.shell_code();
}

double edge_result::bytes_per_second() const noexcept {
  const double seconds = std::chrono::duration<double>(duration).count();
  return seconds > 0 ? static_cast<double>(bytes) / seconds : 0.0;
}

pipeline_error::pipeline_error(std::error_code ec, pipeline_failure failure)
    : std::system_error(ec, describe(failure, ec)), failure_(std::move(failure)) {}

pipeline::pipeline(std::initializer_list<command> stages) : stages_(stages) {}
pipeline::pipeline(std::vector<command> stages) : stages_(std::move(stages)) {}

pipeline& pipeline::add(command stage) {
  stages_.push_back(std::move(stage));
  return *this;
}
pipeline& pipeline::set_stdin(stdio s) {
  stdin_ = std::move(s);
  return *this;
}
pipeline& pipeline::set_stdout(stdio s) {
  stdout_ = std::move(s);
  return *this;
}
pipeline& pipeline::when_start_fails(on_start_failure action) {
  on_start_failure_ = action;
  return *this;
}
pipeline& pipeline::meter(bool on) {
  meter_ = on;
  return *this;
}

running_pipeline::running_pipeline() noexcept = default;
running_pipeline::running_pipeline(running_pipeline&&) noexcept = default;
running_pipeline& running_pipeline::operator=(running_pipeline&& other) noexcept {
  if (this != &other) {
    finish_relays();
    stages_ = std::move(other.stages_);
    relays_ = std::move(other.relays_);
    in_ = std::move(other.in_);
    out_ = std::move(other.out_);
  }
  return *this;
}
running_pipeline::~running_pipeline() {
  // The stages first (killed unless their commands say detach), so that a
  // relay blocked on a stage that no longer reads is released.
  stages_.clear();
  finish_relays();
}

std::uint64_t running_pipeline::edge_bytes(std::size_t i) const noexcept {
  return i < relays_.size() ? relays_[i]->bytes.load(std::memory_order_relaxed) : 0;
}

void running_pipeline::finish_relays() noexcept {
  for (auto& r : relays_) r->join();
}

running_pipeline pipeline::spawn() const {
  std::error_code ec;
  pipeline_failure why;
  running_pipeline r = spawn(ec, why);
  if (ec) {
    if (why.program.empty()) throw std::system_error(ec, "pipeline spawn");
    throw pipeline_error(ec, std::move(why));
  }
  return r;
}

running_pipeline pipeline::spawn(std::error_code& ec) const {
  pipeline_failure why;
  return spawn(ec, why);
}

running_pipeline pipeline::spawn(std::error_code& ec, pipeline_failure& why) const {
  ec.clear();
  why = {};
  running_pipeline r;
  if (stages_.empty()) {
    ec = make_error_code(errc::invalid_argument);
    why.why = {spawn_stage::validate, "a pipeline needs at least one stage"};
    return r;
  }
  if (stdin_.type() == stdio::kind::to_stdout || stdout_.type() == stdio::kind::to_stdout) {
    ec = make_error_code(errc::invalid_argument);
    why.why = {spawn_stage::validate, "to_stdout is for a stage's stderr only"};
    return r;
  }
  const std::size_t n = stages_.size();
  // One pipe per edge, made up front so a failure to make one starts nothing.
  // The ends are made for synchronous use (as programs use their standard
  // streams), with pipekit's default capacity: a stage writing 64 KiB
  // chunks does not run in lock-step with its reader as in a shell's 64 KiB
  // pipes (the enlargement is budgeted, see pipe.hpp).
  // Stage i writes stage_out[i]; stage i + 1 reads stage_in[i]: the two
  // ends of one pipe, or with metering of two pipes joined by a relay. The
  // pipes have the OS's default capacity, as a shell's: how much a stage can
  // write before its reader exits decides whether it dies of SIGPIPE, and so
  // the status `set -o pipefail` reports (`seq 100000 | head -1` is 141 in
  // bash with 64 KiB pipes, 0 with 1 MiB ones). A metered edge's two pipes
  // are 1 MiB each (so it holds more: documented in the header). The ends
  // are made for synchronous use, as programs use their standard streams.
  std::vector<handle_stream> stage_out(n - 1);
  std::vector<handle_stream> stage_in(n - 1);
  pipe_options edge_options;
  edge_options.capacity = 0;
  edge_options.for_children = true;
  try {
    for (std::size_t i = 0; i + 1 < n; ++i) {
      pipe_options near_options = edge_options;
      if (meter_) near_options.capacity = default_pipe_capacity;
      pipe_pair near = make_pipe(near_options, ec);
      if (ec) {
        why.why = {spawn_stage::pipe, "edge " + std::to_string(i)};
        return r;
      }
      stage_out[i] = std::move(near.write_end);
      if (!meter_) {
        stage_in[i] = std::move(near.read_end);
        continue;
      }
      // The relay's pipes are pipekit's larger ones: a relay woken for every
      // 64 KiB costs more than the stages' own work (see bench/README.md).
      pipe_options relay_options = edge_options;
      relay_options.capacity = default_pipe_capacity;
      pipe_pair far = make_pipe(relay_options, ec);
      if (ec) {
        why.why = {spawn_stage::pipe, "edge " + std::to_string(i)};
        return r;
      }
      stage_in[i] = std::move(far.read_end);
      auto relay = std::make_unique<detail::edge_relay>();
      relay->from = std::move(near.read_end);
      relay->to = std::move(far.write_end);
      r.relays_.push_back(std::move(relay));
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return r;
  }

  r.stages_.resize(n);
  std::size_t started = 0;
  for (std::size_t i = 0; i < n; ++i) {
    command stage = stages_[i];
    stage.set_stdin(i == 0 ? stdin_ : stdio::from(stage_in[i - 1].native_handle()));
    stage.set_stdout(i + 1 == n ? stdout_ : stdio::from(stage_out[i].native_handle()));
    auto& st = r.stages_[i];
    std::error_code stage_ec;
    spawn_failure stage_why;
    st.started = clock::now();
    st.proc = stage.spawn(stage_ec, stage_why);
    // The children hold their own copies now; ours would keep the edge open
    // (a reader would never see the end of its input).
    std::error_code ignored;
    if (i > 0) stage_in[i - 1].close(ignored);
    if (i + 1 < n) stage_out[i].close(ignored);
    if (!st.proc.valid()) {
      if (!stage_ec) stage_ec = make_error_code(errc::invalid_argument);
      st.result.start_error = stage_ec;
      st.result.start_failure = stage_why;
      st.done = true;
      if (!ec) {
        ec = stage_ec;
        why.stage = i;
        why.program = stages_[i].argv().empty() ? std::string() : stages_[i].argv().front();
        why.why = stage_why;
      }
      if (on_start_failure_ == on_start_failure::stop) break;
      continue;
    }
    ++started;
    if (i == 0) r.in_ = std::move(st.proc.in());
    if (i + 1 == n) r.out_ = std::move(st.proc.out());
  }

  if (ec && (on_start_failure_ == on_start_failure::stop || started == 0)) {
    // Nothing is left behind: what started is killed and reaped.
    std::error_code ignored;
    for (auto& e : stage_in) e.close(ignored);
    for (auto& e : stage_out) e.close(ignored);
    r.terminate(terminate_options{.signal = sigkill_number, .grace = std::chrono::milliseconds(0)}, ignored);
    return running_pipeline{};
  }
  // run_others: the failure is in the stage's result, and the pipeline runs.
  ec.clear();
  why = {};
  for (auto& relay : r.relays_) {
    relay->started = r.stages_.front().started;
    try {
      relay->thread = std::thread([raw = relay.get()] { raw->run(); });
    } catch (const std::system_error& e) {
      // No thread for this edge: its stages see the ends at once.
      std::error_code ignored;
      relay->from.close(ignored);
      relay->to.close(ignored);
      relay->result.error = e.code();
    }
  }
  return r;
}

bool running_pipeline::collect(deadline until, std::error_code& ec) noexcept {
  if (!detail::collect_stages(stages_, until, ec)) return false;
  finish_relays();
  return true;
}

pipeline_result running_pipeline::result() const {
  pipeline_result res;
  res.stages.reserve(stages_.size());
  for (const auto& st : stages_) res.stages.push_back(st.result);
  res.edges.reserve(relays_.size());
  for (const auto& relay : relays_) {
    if (relay->joined) {
      res.edges.push_back(relay->result);
    } else {  // still running (a wait that failed): what it has counted so far
      edge_result so_far;
      so_far.bytes = relay->bytes.load(std::memory_order_relaxed);
      so_far.duration = clock::now() - relay->started;
      res.edges.push_back(so_far);
    }
  }
  return res;
}

pipeline_result running_pipeline::wait() {
  std::error_code ec;
  pipeline_result r = wait(ec);
  if (ec) throw std::system_error(ec, "pipeline wait");
  return r;
}

pipeline_result running_pipeline::wait(std::error_code& ec) noexcept {
  (void)collect(no_deadline, ec);
  return result();
}

std::optional<pipeline_result> running_pipeline::wait_until(deadline until) {
  std::error_code ec;
  auto r = wait_until(until, ec);
  if (ec) throw std::system_error(ec, "pipeline wait");
  return r;
}

std::optional<pipeline_result> running_pipeline::wait_until(deadline until, std::error_code& ec) noexcept {
  if (!collect(until, ec)) return std::nullopt;
  return result();
}

pipeline_result running_pipeline::terminate(const terminate_options& options) {
  std::error_code ec;
  pipeline_result r = terminate(options, ec);
  if (ec) throw std::system_error(ec, "pipeline terminate");
  return r;
}

pipeline_result running_pipeline::terminate(const terminate_options& options, std::error_code& ec) noexcept {
  detail::terminate_stages(stages_, options, ec);
  finish_relays();
  return result();
}

}  // namespace pipekit
