#include "pipekit/topology/fan_in.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string_view>
#include <thread>

#include "pipekit/error.hpp"
#include "topology/supervision.hpp"

namespace pipekit {

namespace {

// The merged output and who may write to it.
struct shared_output {
  explicit shared_output(stream& to) : out(to) {}
  stream& out;
  std::mutex lock;
  std::error_code error;          // guarded by lock
  std::atomic<bool> stop{false};  // the output failed or the deadline passed
};

// One producer's pipe, read by a thread of its own, which writes only whole
// records to the shared output.
class producer_reader {
 public:
  producer_reader(std::size_t index, handle_stream pipe, producer_result& result, shared_output& output,
                  const fan_in_options& options)
      : index_(index), pipe_(std::move(pipe)), result_(result), output_(output), options_(options) {}

  void run() noexcept {
    try {
      read_all();
    } catch (const std::bad_alloc&) {
      result_.error = std::make_error_code(std::errc::not_enough_memory);
    }
    std::error_code ignored;
    pipe_.close(ignored);  // a producer still writing sees a broken pipe, not a hang
  }

 private:
  // How often a read waiting for data looks at output_.stop.
  static constexpr std::chrono::milliseconds stop_check{100};
  static constexpr std::size_t chunk = std::size_t{64} << 10;

  void read_all() {
    const auto buffer = std::make_unique_for_overwrite<char[]>(chunk);
    const std::string prefix = options_.prefix ? options_.prefix(index_) : std::string();
    std::error_code ec;
    while (!output_.stop.load(std::memory_order_relaxed)) {
      const std::size_t n =
          pipe_.read_some(std::as_writable_bytes(std::span(buffer.get(), chunk)), after(stop_check), ec);
      if (ec == std::errc::timed_out) {
        ec.clear();
        continue;
      }
      if (ec) {
        result_.error = ec;
        break;
      }
      if (n == 0) {  // end of its output
        if (!pending_.empty()) {
          pending_ += '\n';
          add_record(prefix, pending_);
          pending_.clear();
          result_.unterminated_last = true;
        }
        break;
      }
      std::string_view data(buffer.get(), n);
      for (std::size_t nl; (nl = data.find('\n')) != std::string_view::npos;) {
        const std::string_view piece = data.substr(0, nl + 1);
        if (pending_.size() + piece.size() > options_.max_record_size) return too_large();
        if (pending_.empty()) {
          add_record(prefix, piece);
        } else {
          pending_.append(piece);
          add_record(prefix, pending_);
          pending_.clear();
        }
        data.remove_prefix(nl + 1);
      }
      if (pending_.size() + data.size() > options_.max_record_size) return too_large();
      pending_.append(data);
      if (!flush()) return;
    }
    (void)flush();
  }

  void add_record(const std::string& prefix, std::string_view record) {
    batch_ += prefix;
    batch_.append(record);
    ++batch_records_;
    batch_bytes_ += record.size();
  }

  // The whole records of one read in one write, under the lock.
  bool flush() {
    if (batch_.empty()) return true;
    std::lock_guard<std::mutex> hold(output_.lock);
    if (!output_.error) {
      std::error_code ec;
      (void)output_.out.write_all(std::as_bytes(std::span(batch_.data(), batch_.size())), ec);
      if (ec) {
        output_.error = ec;
        output_.stop.store(true, std::memory_order_relaxed);
      } else {
        result_.records += batch_records_;
        result_.bytes += batch_bytes_;
      }
    }
    batch_.clear();
    batch_records_ = 0;
    batch_bytes_ = 0;
    return !output_.error;
  }

  void too_large() {
    (void)flush();  // the records before it are whole and go out
    result_.error = make_error_code(errc::message_too_large);
  }

  std::size_t index_;
  handle_stream pipe_;
  producer_result& result_;
  shared_output& output_;
  const fan_in_options& options_;
  std::string pending_;  // the start of a record whose '\n' has not come yet
  std::string batch_;
  std::uint64_t batch_records_ = 0;
  std::uint64_t batch_bytes_ = 0;
};

}  // namespace

pipeline_result fan_in_result::statuses() const {
  pipeline_result r;
  r.stages.reserve(producers.size());
  for (const auto& p : producers) r.stages.push_back(p.stage);
  return r;
}

bool fan_in_result::success() const noexcept {
  if (output_error || timed_out) return false;
  return std::all_of(producers.begin(), producers.end(), [](const producer_result& p) {
    return !p.error && !p.stage.start_error && p.stage.status.success();
  });
}

fan_in_result fan_in(const std::vector<command>& producers, stream& out, const fan_in_options& options) {
  std::error_code ec;
  fan_in_result r = fan_in(producers, out, options, ec);
  if (ec) throw std::system_error(ec, "fan_in");
  return r;
}

fan_in_result fan_in(const std::vector<command>& producers, stream& out, const fan_in_options& options,
                     std::error_code& ec) {
  ec.clear();
  fan_in_result result;
  if (producers.empty()) {
    ec = make_error_code(errc::invalid_argument);
    return result;
  }
  const std::size_t n = producers.size();
  result.producers.resize(n);
  std::vector<detail::supervised_stage> stages(n);
  shared_output output(out);
  std::vector<std::unique_ptr<producer_reader>> readers;
  std::vector<std::thread> threads;
  readers.reserve(n);
  threads.reserve(n);

  for (std::size_t i = 0; i < n; ++i) {
    command c = producers[i];
    c.set_stdout(stdio::pipe());
    auto& st = stages[i];
    std::error_code spawn_ec;
    spawn_failure why;
    st.started = clock::now();
    st.proc = c.spawn(spawn_ec, why);
    if (!st.proc.valid()) {
      st.result.start_error = spawn_ec ? spawn_ec : make_error_code(errc::invalid_argument);
      st.result.start_failure = why;
      st.done = true;
      continue;
    }
    readers.push_back(
        std::make_unique<producer_reader>(i, std::move(st.proc.out()), result.producers[i], output, options));
    try {
      threads.emplace_back([raw = readers.back().get()] { raw->run(); });
    } catch (const std::system_error& e) {
      // No reader for this producer: stop everything rather than lose its output.
      ec = e.code();
      output.stop.store(true);
      readers.pop_back();
      break;
    }
  }

  // Wait for the producers; past the deadline (or when the output failed)
  // end them, and the readers see the ends of their pipes.
  std::error_code wait_ec;
  for (;;) {
    const deadline step = std::min(options.until, after(std::chrono::milliseconds(100)));
    if (detail::collect_stages(stages, step, wait_ec) || wait_ec) break;
    const bool late = options.until != no_deadline && clock::now() >= options.until;
    if (late || output.stop.load() || ec) {
      result.timed_out = late;
      std::error_code ignored;
      detail::terminate_stages(stages, terminate_options{}, ignored);
      break;
    }
  }
  if (wait_ec && !ec) ec = wait_ec;
  // A producer's descendant may still hold its pipe: past the deadline the
  // readers stop; otherwise they read to the end, as a shell's reader would.
  if (result.timed_out || ec) output.stop.store(true);
  for (auto& t : threads) t.join();
  {
    std::lock_guard<std::mutex> hold(output.lock);
    result.output_error = output.error;
  }
  for (std::size_t i = 0; i < n; ++i) result.producers[i].stage = stages[i].result;
  return result;
}

}  // namespace pipekit
