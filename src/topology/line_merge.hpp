// Internal to the topologies: merging several children's output into one
// stream a whole line at a time, never tearing one (fan_in's producers,
// fan_out's consumers).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>

#include "pipekit/stream.hpp"

namespace pipekit::detail {

// The merged output and who may write to it.
struct shared_output {
  explicit shared_output(stream& to) : out(to) {}
  stream& out;
  std::mutex lock;
  std::error_code error;          // guarded by lock
  std::atomic<bool> stop{false};  // the output failed or the caller gave up
};

// What one reader moved; final once its thread is joined.
struct merge_counts {
  std::uint64_t records = 0;  // whole lines written to the output
  std::uint64_t bytes = 0;    // their bytes, without prefixes
  bool unterminated_last = false;
  // errc::message_too_large when a line passed the bound (that child's
  // output stopped there); else what reading its pipe failed with.
  std::error_code error;
};

// One child's pipe, read by a thread of its own (run()), which writes only
// whole lines to the shared output: all the complete ones of a read in one
// write, under the lock, so lines of different children never mix. A line
// longer than max_line is not written: the pipe is closed (the child sees a
// broken pipe) and counts.error says message_too_large. A last line without
// '\n' is written with one added, and flagged.
class line_reader {
 public:
  line_reader(handle_stream pipe, std::string prefix, std::size_t max_line, shared_output& output)
      : pipe_(std::move(pipe)), prefix_(std::move(prefix)), max_line_(max_line), output_(output) {}

  void run() noexcept;
  [[nodiscard]] const merge_counts& counts() const noexcept { return counts_; }

 private:
  void read_all();
  void add_line(std::string_view line);
  bool flush();
  void too_large();

  handle_stream pipe_;
  std::string prefix_;
  std::size_t max_line_;
  shared_output& output_;
  merge_counts counts_;
  std::string pending_;  // the start of a line whose '\n' has not come yet
  std::string batch_;
  std::uint64_t batch_records_ = 0;
  std::uint64_t batch_bytes_ = 0;
};

}  // namespace pipekit::detail
