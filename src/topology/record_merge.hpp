// Internal to the topologies: merging several children's output into one
// stream a whole record (line or channel frame) at a time, never tearing
// one (fan_in's producers, fan_out's consumers).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/pipe.hpp"
#include "pipekit/stream.hpp"
#include "pipekit/topology/record_format.hpp"

namespace pipekit::detail {

// The merged output and who may write to it.
struct shared_output {
  explicit shared_output(stream& to) : out(to), pipe_out(dynamic_cast<handle_stream*>(&to)) {}
  stream& out;
  handle_stream* pipe_out;  // `out` when splice_some() can be given it, else nullptr
  std::mutex lock;
  std::error_code error;          // guarded by lock
  std::atomic<bool> stop{false};  // the output failed or the caller gave up
};

struct merge_options {
  std::string prefix;  // before each record
  std::size_t max_record = std::size_t{16} << 20;
  record_format format = record_format::lines;
  // false: records need not be counted, which lets lines move with no copy
  // (below); counts.records_counted then says whether they were.
  bool count_records = true;
};

// What one reader moved; final once its thread is joined.
struct merge_counts {
  std::uint64_t records = 0;  // whole records written to the output
  bool records_counted = true;
  std::uint64_t bytes = 0;  // their bytes, without prefixes
  bool unterminated_last = false;
  // errc::message_too_large when a record passed max_record (that child's
  // output stopped there); protocol_error for a malformed or cut-short
  // frame; else what reading its pipe failed with.
  std::error_code error;
};

// One child's pipe, read by a thread of its own (run()), which writes only
// whole records to the shared output: all the complete ones of a read in
// one go, under the lock, so records of different children never mix. A
// record longer than max_record is not written: the pipe is closed (the
// child sees a broken pipe) and counts.error says message_too_large. A last
// line without '\n' is written with one added, and flagged; a last frame
// cut short is not written (protocol_error).
//
// Lines with no prefix, into an output that is a pipe or a file, on Linux
// and when records need not be counted: each chunk of the child's pipe is
// tee(2)'d into a scratch pipe, only its ends are read from there (the
// first '\n', when a line from the last chunk is pending, and the last
// one; the middle is spliced into /dev/null), and the whole lines are then
// spliced from the child's pipe into the output: no byte of them is copied
// through this process. Lines longer than what the tail shows fall back to
// reading, chunk by chunk.
class record_reader {
 public:
  record_reader(handle_stream pipe, merge_options options, shared_output& output);

  void run() noexcept;
  [[nodiscard]] const merge_counts& counts() const noexcept { return counts_; }
  // The bytes written to the output so far; any thread, any time.
  [[nodiscard]] std::uint64_t bytes_so_far() const noexcept { return live_bytes_.load(std::memory_order_relaxed); }

 private:
  enum class step { more, end, stop };
  void read_all();
  std::optional<step> waited(std::size_t n, const std::error_code& ec);
  step copy_step(std::span<char> buffer);
  step splice_step(std::span<char> buffer);
  bool take(std::string_view data);
  bool take_from_pipe(std::size_t n, std::span<char> buffer);
  void end_of_input();
  bool flush();
  bool splice_run(std::size_t n);
  void counted(std::uint64_t records, std::uint64_t bytes);
  void fail(std::error_code ec);

  handle_stream pipe_;
  merge_options o_;
  shared_output& output_;
  merge_counts counts_;
  std::atomic<std::uint64_t> live_bytes_{0};
  bool zero_copy_ = false;
  pipe_pair scratch_;
  std::string pending_;  // the start of a record whose end has not come yet
  // What the next flush() writes: copied records (with prefixes, or one
  // completed from pending_), then `direct_`, whole records still in the
  // read buffer.
  std::string batch_;
  std::string_view direct_;
  std::uint64_t batch_records_ = 0;
  std::uint64_t batch_bytes_ = 0;
};

}  // namespace pipekit::detail
