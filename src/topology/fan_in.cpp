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
#include "topology/record_merge.hpp"
#include "topology/supervision.hpp"

namespace pipekit {

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
  detail::shared_output output(out);
  std::vector<std::unique_ptr<detail::record_reader>> readers;
  std::vector<std::size_t> reader_of;  // the producer each reader reads
  std::vector<std::thread> threads;
  readers.reserve(n);
  threads.reserve(n);

  for (std::size_t i = 0; i < n; ++i) {
    command c = producers[i];
    c.set_stdout(stdio::pipe());
    auto& st = stages[i];
    if (!detail::start_stage(st, c)) continue;
    readers.push_back(std::make_unique<detail::record_reader>(
        std::move(st.proc.out()),
        detail::merge_options{.prefix = options.prefix ? options.prefix(i) : std::string(),
                              .max_record = options.max_record_size,
                              .format = options.records,
                              .count_records = options.count_records},
        output));
    reader_of.push_back(i);
    try {
      threads.emplace_back([raw = readers.back().get()] { raw->run(); });
    } catch (const std::system_error& e) {
      // No reader for this producer: stop everything rather than lose its output.
      ec = e.code();
      output.stop.store(true);
      readers.pop_back();
      reader_of.pop_back();
      break;
    }
  }

  // Wait for the producers; past the deadline (or when the output failed)
  // end them, and the readers see the ends of their pipes.
  std::vector<std::uint64_t> live(n, 0);
  const auto give_up = [&] {
    if (options.on_progress) {
      for (std::size_t k = 0; k < readers.size(); ++k) live[reader_of[k]] = readers[k]->bytes_so_far();
      options.on_progress(live);
    }
    return output.stop.load() || static_cast<bool>(ec);
  };
  std::error_code wait_ec;
  result.timed_out = detail::wait_stages(stages, options.until, give_up, wait_ec);
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
  for (std::size_t k = 0; k < readers.size(); ++k) {
    const detail::merge_counts& c = readers[k]->counts();
    producer_result& p = result.producers[reader_of[k]];
    if (c.records_counted) p.records = c.records;
    p.bytes = c.bytes;
    p.unterminated_last = c.unterminated_last;
    p.error = c.error;
  }
  return result;
}

}  // namespace pipekit
