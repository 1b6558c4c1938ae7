#include "pipekit/topology/fan_out.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <span>
#include <string_view>
#include <thread>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "topology/record_merge.hpp"
#include "topology/records.hpp"
#include "topology/supervision.hpp"

namespace pipekit {

namespace {

using detail::announced_length;
using detail::count_records;
using detail::record_length;
using detail::whole_records_end;

// One read of the source, and the most a tee or splice moves at once.
constexpr std::size_t chunk_size = std::size_t{256} << 10;
// Scatter: records go out in batches of about this size (one write each).
constexpr std::size_t batch_size = std::size_t{64} << 10;

bool past(deadline d) noexcept { return d != no_deadline && clock::now() >= d; }

// The write end of one consumer's stdin, and what it has been given.
struct consumer_input {
  handle_stream in;
  consumer_result* result = nullptr;
  std::atomic<std::uint64_t>* live = nullptr;  // result->bytes, readable while others write it
};

void delivered(consumer_input& c, std::size_t n) {
  c.result->bytes += n;
  c.live->fetch_add(n, std::memory_order_relaxed);
}

// Hands options.on_progress every consumer's bytes so far, at most every
// 100 ms, when the thread that runs the fan-out comes by.
class progress_ticker {
 public:
  progress_ticker(const fan_out_options& o, const std::vector<consumer_input>& consumers)
      : o_(o), consumers_(consumers), totals_(o.on_progress ? consumers.size() : 0) {}

  void tick() {
    if (!o_.on_progress) return;
    const clock::time_point now = clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    for (std::size_t i = 0; i < totals_.size(); ++i) totals_[i] = consumers_[i].live->load(std::memory_order_relaxed);
    o_.on_progress(totals_);
  }

 private:
  const fan_out_options& o_;
  const std::vector<consumer_input>& consumers_;
  std::vector<std::uint64_t> totals_;
  clock::time_point last_{};
};

// What a wait for one consumer may take: until the fan-out's deadline, or
// with when_slow = drop no longer than slow_after.
deadline consumer_deadline(const fan_out_options& o) {
  if (o.when_slow != slow_consumer::drop) return o.until;
  return std::min(o.until, after(o.slow_after));
}

// Records a failed write into consumer `c` and closes its input. True when
// the fan-out itself must stop (its deadline passed).
bool consumer_failed(consumer_input& c, const std::error_code& ec, const fan_out_options& o, fan_out_result& r) {
  std::error_code ignored;
  if (ec == std::errc::broken_pipe) {
    // The pipe lives while our end is open: what it still holds was never read.
    c.result->unread = pipe_buffered_bytes(c.in.native_handle(), ignored);
    c.in.close(ignored);
    c.result->left_early = true;
    return false;
  }
  c.in.close(ignored);
  if (ec == std::errc::timed_out && past(o.until)) {
    r.timed_out = true;
    return true;
  }
  if (ec == std::errc::timed_out) c.result->dropped = true;
  c.result->error = ec;
  return false;
}

bool source_failed(const std::error_code& ec, const fan_out_options& o, fan_out_result& r) {
  if (ec == std::errc::timed_out && past(o.until)) r.timed_out = true;
  else r.source_error = ec;
  return false;
}

// ---- copy ---------------------------------------------------------------

class copier {
 public:
  copier(handle_stream& source, std::vector<consumer_input>& consumers, const fan_out_options& o, fan_out_result& r)
      : source_(source), consumers_(consumers), o_(o), r_(r), ticker_(o, consumers) {}

  void run() {
    buffer_ = std::make_unique_for_overwrite<std::byte[]>(chunk_size);
    if (!through_pipes()) through_buffer();
  }

 private:
  std::vector<consumer_input*> alive() {
    std::vector<consumer_input*> v;
    for (auto& c : consumers_)
      if (c.in.is_open()) v.push_back(&c);
    return v;
  }

  std::span<std::byte> buffer(std::size_t n) const { return {buffer_.get(), std::min(n, chunk_size)}; }

  // Linux: tee into all but the last consumer, splice into the last. False
  // (having moved nothing a copy would repeat) where tee cannot be used;
  // carried_ is then what sits in the buffer to send first.
  bool through_pipes() {
    handle_stream* from = &source_;
    pipe_pair staging;       // when the source is not a pipe: spliced into this first
    std::size_t staged = 0;  // bytes in staging
    for (;;) {
      ticker_.tick();
      const std::vector<consumer_input*> to = alive();
      if (to.empty()) return true;
      std::error_code ec;
      if (from != &source_ && staged == 0) {
        const std::size_t n = splice_some(source_, staging.write_end, chunk_size, o_.until, ec);
        if (ec) return source_failed(ec, o_, r_), true;
        if (n == 0) {
          r_.source_finished = true;
          return true;
        }
        staged = n;
        r_.source_bytes += n;
      }
      const std::size_t most = from == &source_ ? chunk_size : staged;
      consumer_input& first = *to.front();
      std::size_t t = 0;
      if (to.size() == 1) {
        t = splice_some(*from, first.in, most, consumer_deadline(o_), ec);
      } else {
        t = tee_some(*from, first.in, most, consumer_deadline(o_), ec);
        if (ec == errc::not_supported) {
          if (from == &source_) {  // the source is not a pipe: stage it in one
            staging = make_pipe(pipe_options{}, ec);
            if (ec) return source_failed(ec, o_, r_), true;
            from = &staging.read_end;
            continue;
          }
          // No tee on this system: what is staged goes out by copy.
          carried_ = staging.read_end.read_exact(buffer(staged), ec);
          if (ec) return source_failed(ec, o_, r_), true;
          return false;
        }
      }
      if (ec == std::errc::timed_out && !past(o_.until) && from == &source_) {
        // The wait may have been for the source, not for the consumer.
        std::error_code peek_ec;
        if (pipe_buffered_bytes(source_.native_handle(), peek_ec) == 0 || peek_ec) continue;
      }
      if (ec) {
        if (consumer_failed(first, ec, o_, r_)) return true;
        continue;
      }
      if (t == 0) {  // only the source can end here: it has no writer left
        r_.source_finished = true;
        return true;
      }
      delivered(first, t);
      if (to.size() > 1 && !share_with_others(*from, to, t)) return true;
      if (from == &source_) r_.source_bytes += t;
      else staged -= t;
    }
  }

  // `t` bytes at the start of `from` reached to.front(): the same bytes to
  // the others, then consumed from `from`. False when the fan-out stops.
  bool share_with_others(handle_stream& from, const std::vector<consumer_input*>& to, std::size_t t) {
    std::vector<std::pair<consumer_input*, std::size_t>> short_ones;  // got fewer than t by tee
    for (std::size_t i = 1; i + 1 < to.size(); ++i) {
      std::error_code ec;
      const std::size_t k = tee_some(from, to[i]->in, t, consumer_deadline(o_), ec);
      if (ec) {
        if (consumer_failed(*to[i], ec, o_, r_)) return false;
        continue;
      }
      delivered(*to[i], k);
      if (k < t) short_ones.emplace_back(to[i], k);
    }
    consumer_input& last = *to.back();
    std::error_code ec;
    if (short_ones.empty()) {
      std::size_t moved = 0;
      while (moved < t && last.in.is_open()) {
        const std::size_t n = splice_some(from, last.in, t - moved, consumer_deadline(o_), ec);
        if (ec) {
          if (consumer_failed(last, ec, o_, r_)) return false;
          break;
        }
        moved += n;
        delivered(last, n);
      }
      if (moved == t) return true;
      // The last consumer left halfway: the rest is the others' already.
      (void)from.read_exact(buffer(t - moved), ec);
      return !ec || source_failed(ec, o_, r_);
    }
    // A consumer's pipe had room for only part of the chunk (it is the slow
    // one): the chunk comes out of `from` through the buffer and its rest is
    // written to those consumers, the whole of it to the last.
    const std::span<std::byte> data = buffer(t);
    (void)from.read_exact(data, ec);
    if (ec) return source_failed(ec, o_, r_);
    short_ones.emplace_back(&last, 0);
    for (auto [c, k] : short_ones) {
      if (!c->in.is_open()) continue;
      const std::size_t n = c->in.write_all(data.subspan(k), consumer_deadline(o_), ec);
      delivered(*c, n);
      if (ec && consumer_failed(*c, ec, o_, r_)) return false;
    }
    return true;
  }

  void through_buffer() {
    std::size_t n = carried_;
    for (;;) {
      ticker_.tick();
      const std::vector<consumer_input*> to = alive();
      if (to.empty()) return;
      std::error_code ec;
      if (n == 0) {
        n = source_.read_some(buffer(chunk_size), o_.until, ec);
        if (ec) return (void)source_failed(ec, o_, r_);
        if (n == 0) {
          r_.source_finished = true;
          return;
        }
        r_.source_bytes += n;
      }
      for (consumer_input* c : to) {
        const std::size_t w = c->in.write_all(buffer(n), consumer_deadline(o_), ec);
        delivered(*c, w);
        if (ec && consumer_failed(*c, ec, o_, r_)) return;
      }
      n = 0;
    }
  }

  handle_stream& source_;
  std::vector<consumer_input>& consumers_;
  const fan_out_options& o_;
  fan_out_result& r_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t carried_ = 0;
  progress_ticker ticker_;
};

// ---- scatter ------------------------------------------------------------

struct batch {
  std::string data;
  std::uint64_t records = 0;
};

class scatterer {
 public:
  scatterer(handle_stream& source, std::vector<consumer_input>& consumers, const fan_out_options& o, fan_out_result& r)
      : source_(source),
        consumers_(consumers),
        o_(o),
        r_(r),
        own_(consumers.size()),
        gone_(consumers.size()),
        open_(consumers.size()),
        ticker_(o, consumers) {
    for (std::size_t i = 0; i < consumers.size(); ++i) gone_[i] = !consumers[i].in.is_open();
    bound_ = std::max<std::size_t>(consumers.size(), 2) * 2 * batch_size;
  }

  // Starts one writer thread per consumer; throws std::system_error when
  // one cannot be started (those started are stopped and joined).
  void run() {
    try {
      for (std::size_t i = 0; i < consumers_.size(); ++i)
        if (!gone_[i]) writers_.emplace_back([this, i] { write_loop(i); });
    } catch (...) {
      finish();
      throw;
    }
    deal();
    finish();
  }

 private:
  bool all_gone() const {
    return std::all_of(gone_.begin(), gone_.end(), [](bool g) { return g; });
  }

  // The dealer: reads the source, cuts it into records and hands them out.
  void deal() {
    std::string buf;
    std::size_t next = 0;  // round robin: the next consumer to get a record
    bool ended = false;
    bool bad_record = false;  // the records before it still go out
    while (!ended && !bad_record && !stop_) {
      ticker_.tick();
      if (!redeal()) return;
      const std::size_t have = buf.size();
      buf.resize(have + chunk_size);
      std::error_code ec;
      const std::size_t n =
          source_.read_some(std::as_writable_bytes(std::span(buf.data() + have, chunk_size)), o_.until, ec);
      buf.resize(have + n);
      if (ec) {
        std::lock_guard<std::mutex> hold(lock_);  // r_.timed_out is the writers' too
        source_failed(ec, o_, r_);
        stop_ = true;
        break;
      }
      r_.source_bytes += n;
      ended = n == 0;
      std::string_view data(buf);
      for (;;) {
        bool bad = false;
        std::size_t len = record_length(data, o_.records, bad);
        if (bad) {
          r_.source_error = make_error_code(errc::protocol_error);
          bad_record = true;
          break;
        }
        if (len == 0 && ended && !data.empty()) {
          if (o_.records == record_format::frames) {  // a frame cut short by the end
            r_.source_error = make_error_code(errc::protocol_error);
            bad_record = true;
            break;
          }
          len = data.size();  // a last line without '\n' goes as it is
        }
        if (len == 0) {
          if (announced_length(data, o_.records) > o_.max_record_size) {
            r_.source_error = make_error_code(errc::message_too_large);
            bad_record = true;
          }
          break;
        }
        if (len > o_.max_record_size) {
          r_.source_error = make_error_code(errc::message_too_large);
          bad_record = true;
          break;
        }
        std::size_t target = 0;
        if (o_.order == scatter_order::round_robin) {
          target = pick(next);
          if (target == consumers_.size()) {  // nobody left
            r_.undelivered_records += count_records(data, o_.records);
            stop_ = true;
            break;
          }
          next = target + 1;
        }
        batch& b = open_[target];
        b.data.append(data.substr(0, len));
        ++b.records;
        data.remove_prefix(len);
        if (b.data.size() >= batch_size && !push(target)) break;
      }
      buf.erase(0, buf.size() - data.size());
      // What one read brought goes out now: a slow source is not held back.
      for (std::size_t i = 0; i < open_.size() && !stop_; ++i)
        if (!open_[i].data.empty() && !push(i)) break;
    }
    if (stop_ || (!ended && !bad_record)) return;
    r_.source_finished = !bad_record;
    // The writers may still give back records (a consumer that leaves now).
    for (;;) {
      std::unique_lock<std::mutex> hold(lock_);
      changed_.wait(hold, [this] { return !returned_.empty() || (queued_ == 0 && busy_ == 0) || all_gone() || stop_; });
      if (returned_.empty() || stop_) return;
      hold.unlock();
      if (!redeal()) return;
    }
  }

  // The first consumer still taking records from `from` on (round robin);
  // consumers_.size() when none is.
  std::size_t pick(std::size_t from) {
    std::lock_guard<std::mutex> hold(lock_);
    for (std::size_t k = 0; k < gone_.size(); ++k) {
      const std::size_t i = (from + k) % gone_.size();
      if (!gone_[i]) return i;
    }
    return gone_.size();
  }

  // Queues the open batch of `target` (or the shared one), waiting while
  // the queues hold their bound. False when the fan-out stops.
  bool push(std::size_t target) {
    batch b = std::move(open_[target]);
    open_[target] = {};
    std::unique_lock<std::mutex> hold(lock_);
    // Only what live writers hold counts against the bound: what came back
    // waits for this thread, which would otherwise wait for itself.
    changed_.wait(hold, [this] { return queued_ - returned_bytes_ < bound_ || all_gone() || stop_; });
    if (stop_) return false;
    if (all_gone()) {  // nobody left to take records: the source is not read further
      r_.undelivered_records += b.records;
      stop_ = true;
      return false;
    }
    queued_ += b.data.size();
    if (o_.order == scatter_order::ready) {
      shared_.push_back(std::move(b));
    } else if (gone_[target]) {
      returned_bytes_ += b.data.size();
      returned_.push_back(std::move(b));  // it left meanwhile: dealt again
    } else {
      own_[target].push_back(std::move(b));
    }
    work_.notify_all();
    return true;
  }

  // Deals again what consumers that left did not take. False when nobody is
  // left to take it (counted as undelivered).
  bool redeal() {
    std::deque<batch> back;
    {
      std::lock_guard<std::mutex> hold(lock_);
      back.swap(returned_);
      for (const batch& b : back) queued_ -= b.data.size();
      returned_bytes_ = 0;
    }
    for (batch& b : back) {
      std::size_t target = 0;
      if (o_.order == scatter_order::round_robin) target = pick(0);
      if (target == consumers_.size() || (o_.order == scatter_order::ready && all_gone_locked())) {
        for (const batch& lost : back) r_.undelivered_records += lost.records;
        stop_ = true;
        return false;
      }
      open_[target].data.append(b.data);
      open_[target].records += b.records;
      if (!push(target)) return false;
      b = {};
    }
    return !stop_;
  }

  bool all_gone_locked() {
    std::lock_guard<std::mutex> hold(lock_);
    return all_gone();
  }

  void write_loop(std::size_t i) {
    consumer_input& c = consumers_[i];
    for (;;) {
      batch b;
      {
        std::unique_lock<std::mutex> hold(lock_);
        auto& q = o_.order == scatter_order::ready ? shared_ : own_[i];
        work_.wait(hold, [&] { return !q.empty() || closed_ || stop_; });
        if (q.empty() || stop_) return;
        b = std::move(q.front());
        q.pop_front();
        ++busy_;
      }
      std::error_code ec;
      const std::size_t n =
          c.in.write_all(std::as_bytes(std::span(b.data.data(), b.data.size())), consumer_deadline(o_), ec);
      std::lock_guard<std::mutex> hold(lock_);
      --busy_;
      queued_ -= b.data.size();
      if (!ec) {
        delivered(c, n);
        c.result->records += b.records;
        changed_.notify_all();
        continue;
      }
      // The records it did not get whole go back to the dealer, with its
      // queue: one it got only part of is dealt again from its start.
      const std::size_t whole = whole_records_end(b.data, n, o_.records);
      const std::uint64_t got = count_records(std::string_view(b.data).substr(0, whole), o_.records);
      delivered(c, n);
      c.result->records += got;
      b.data.erase(0, whole);
      b.records -= got;
      gone_[i] = true;
      if (consumer_failed(c, ec, o_, r_)) stop_ = true;
      if (!b.data.empty()) {
        queued_ += b.data.size();
        returned_bytes_ += b.data.size();
        returned_.push_back(std::move(b));
      }
      for (batch& rest : own_[i]) {
        returned_bytes_ += rest.data.size();
        returned_.push_back(std::move(rest));
      }
      own_[i].clear();
      changed_.notify_all();
      work_.notify_all();
      return;
    }
  }

  void finish() {
    {
      std::lock_guard<std::mutex> hold(lock_);
      closed_ = true;
      if (r_.timed_out) stop_ = true;
    }
    work_.notify_all();
    for (auto& t : writers_) t.join();
    writers_.clear();
    // What no writer took is counted, never dropped silently.
    for (const batch& b : shared_) r_.undelivered_records += b.records;
    for (const auto& q : own_)
      for (const batch& b : q) r_.undelivered_records += b.records;
    for (const batch& b : returned_) r_.undelivered_records += b.records;
    for (const batch& b : open_) r_.undelivered_records += b.records;
  }

  handle_stream& source_;
  std::vector<consumer_input>& consumers_;
  const fan_out_options& o_;
  fan_out_result& r_;

  std::mutex lock_;
  std::condition_variable work_;        // for the writers: a batch, or the end
  std::condition_variable changed_;     // for the dealer: room, a consumer gone, idle
  std::deque<batch> shared_;            // scatter_order::ready
  std::vector<std::deque<batch>> own_;  // scatter_order::round_robin
  std::deque<batch> returned_;          // from consumers that left
  std::vector<bool> gone_;
  std::size_t queued_ = 0;          // bytes in the queues, returned_ included
  std::size_t returned_bytes_ = 0;  // of those, in returned_
  std::size_t bound_ = 0;
  std::size_t busy_ = 0;           // writers in a write
  bool closed_ = false;            // no more batches will come
  std::atomic<bool> stop_{false};  // the deadline passed, the source failed, nobody is left

  std::vector<batch> open_;  // the dealer's batches being filled
  progress_ticker ticker_;   // the dealer's
  std::vector<std::thread> writers_;
};

}  // namespace

pipeline_result fan_out_result::statuses() const {
  pipeline_result r;
  r.stages.reserve(consumers.size());
  for (const auto& c : consumers) r.stages.push_back(c.stage);
  return r;
}

bool fan_out_result::success() const noexcept {
  if (output_error || timed_out || source_error || !source_finished || undelivered_records > 0) return false;
  return std::all_of(consumers.begin(), consumers.end(), [](const consumer_result& c) {
    return !c.error && !c.dropped && !c.output_error && !c.stage.start_error && c.stage.status.success();
  });
}

fan_out_result fan_out(handle_stream& source, const std::vector<command>& consumers, const fan_out_options& options) {
  std::error_code ec;
  fan_out_result r = fan_out(source, consumers, options, ec);
  if (ec) throw std::system_error(ec, "fan_out");
  return r;
}

fan_out_result fan_out(handle_stream& source, const std::vector<command>& consumers, const fan_out_options& options,
                       std::error_code& ec) {
  ec.clear();
  fan_out_result result;
  if (consumers.empty()) {
    ec = make_error_code(errc::invalid_argument);
    return result;
  }
  const std::size_t n = consumers.size();
  result.consumers.resize(n);
  std::vector<detail::supervised_stage> stages(n);
  std::vector<consumer_input> inputs(n);
  std::vector<std::atomic<std::uint64_t>> live(n);
  for (std::size_t i = 0; i < n; ++i) inputs[i].live = &live[i];
  std::unique_ptr<detail::shared_output> output;
  if (options.merged_output) output = std::make_unique<detail::shared_output>(*options.merged_output);
  std::vector<std::unique_ptr<detail::record_reader>> readers(n);
  std::vector<std::thread> threads;

  for (std::size_t i = 0; i < n; ++i) {
    inputs[i].result = &result.consumers[i];
    command c = consumers[i];
    c.set_stdin(stdio::pipe());
    if (output) c.set_stdout(stdio::pipe());
    auto& st = stages[i];
    if (!detail::start_stage(st, c)) continue;
    inputs[i].in = std::move(st.proc.in());
    if (!output) continue;
    readers[i] = std::make_unique<detail::record_reader>(
        std::move(st.proc.out()),
        detail::merge_options{.prefix = options.prefix ? options.prefix(i) : std::string(),
                              .max_record = options.max_line},
        *output);
    try {
      threads.emplace_back([raw = readers[i].get()] { raw->run(); });
    } catch (const std::system_error& e) {
      ec = e.code();  // its output would be lost: nothing is sent
      readers[i].reset();
      break;
    }
  }

  if (!ec) {
    try {
      if (options.mode == fan_out_mode::copy) {
        copier(source, inputs, options, result).run();
      } else {
        scatterer(source, inputs, options, result).run();
      }
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    } catch (const std::system_error& e) {
      ec = e.code();
    }
  }
  // Past the deadline the consumers are ended before their inputs close: an
  // end of input would tell them the input was whole.
  if (result.timed_out || ec) {
    std::error_code ignored;
    detail::terminate_stages(stages, terminate_options{}, ignored);
  }
  // The consumers see the end of their input.
  for (auto& in : inputs) {
    std::error_code ignored;
    in.in.close(ignored);
  }

  std::error_code wait_ec;
  if (detail::wait_stages(
          stages, options.until, [&] { return result.timed_out || ec || (output && output->stop.load()); }, wait_ec))
    result.timed_out = true;
  if (wait_ec && !ec) ec = wait_ec;
  if (output && (result.timed_out || ec)) output->stop.store(true);
  for (auto& t : threads) t.join();
  if (output) {
    std::lock_guard<std::mutex> hold(output->lock);
    result.output_error = output->error;
  }
  for (std::size_t i = 0; i < n; ++i) {
    consumer_result& c = result.consumers[i];
    c.stage = stages[i].result;
    if (!readers[i]) continue;
    const detail::merge_counts& m = readers[i]->counts();
    c.output_lines = m.records;
    c.output_bytes = m.bytes;
    c.output_error = m.error;
  }
  return result;
}

}  // namespace pipekit
