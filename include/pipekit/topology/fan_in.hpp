// fan_in: N producers run at once and their output is merged into one
// stream, one whole record at a time — never a torn line (or channel
// frame), whatever its size.
//
//   std::vector<pipekit::command> producers{{"grep", "-h", "x", "a.log"}, {"grep", "-h", "x", "b.log"}};
//   pipekit::handle_stream out = ...;                  // where the merged lines go
//   pipekit::fan_in_result r = pipekit::fan_in(producers, out);
//   r.statuses().shell_code();                          // as for a pipeline: the rightmost failure
//
// Producers writing into one shared pipe tear records longer than PIPE_BUF
// (4 KiB on Linux, no guarantee at all on Windows). Here each producer has a
// pipe of its own, read by a thread of this process that writes only whole
// records (lines ending in '\n') to `out`, all the complete ones of a read
// in one write, under a lock, so records of different producers never mix.
// Memory is bounded per producer: a record longer than max_record_size is
// not written; that producer's pipe is closed (it sees a broken pipe), its
// result says message_too_large, and the other producers go on. A last
// line without '\n' is written whole with a '\n' added, and flagged; a
// last frame cut short is not written (protocol_error).
//
// Records are lines by default, or channel frames (records =
// record_format::frames: each producer writes channel.hpp's framing, e.g. a
// channel on its stdout, or Python's Connection.send_bytes; the output is
// then a stream of whole frames that one channel can read).
//
// With count_records = false, on Linux, lines with no prefix going to a
// pipe or a file move with no copy through this process: each chunk of a
// producer's pipe is tee(2)'d aside, only the bytes around its first and
// last '\n' are read, and the whole lines are spliced into the output
// (records are then not counted: `records` stays empty).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/process.hpp"
#include "pipekit/topology/pipeline.hpp"
#include "pipekit/topology/progress.hpp"
#include "pipekit/topology/record_format.hpp"

namespace pipekit {

struct fan_in_options {
  record_format records = record_format::lines;
  // The longest record (with its '\n', or a frame's header) held for one producer.
  std::size_t max_record_size = std::size_t{16} << 20;
  // Written before each record of producer i (for example its number and a
  // tab); none when empty.
  std::function<std::string(std::size_t producer)> prefix;
  // Every producer still running then is terminated (and its descendants).
  deadline until = no_deadline;
  // false: `records` need not be counted (see above: no copy on Linux).
  bool count_records = true;
  // Called about every 100 ms, from the thread that called fan_in(), while
  // producers run: producer i's bytes written to `out` so far.
  progress_callback on_progress;
};

struct producer_result {
  stage_result stage;
  // Whole records written to the output; empty when not counted.
  std::optional<std::uint64_t> records;
  std::uint64_t bytes = 0;  // their bytes, without prefixes
  // Its output ended with a record without '\n': written with one added.
  bool unterminated_last = false;
  // errc::message_too_large when a record passed max_record_size (its output
  // stopped there); protocol_error for a malformed frame header or a frame
  // cut short by its end; else what reading its pipe failed with, if anything.
  std::error_code error;
};

struct fan_in_result {
  std::vector<producer_result> producers;
  // Writing the merged output failed (broken_pipe: its reader left); the
  // producers were then terminated.
  std::error_code output_error;
  bool timed_out = false;

  // The producers' statuses as a pipeline result (success(), shell_code()).
  [[nodiscard]] PIPEKIT_EXPORT pipeline_result statuses() const;
  // Every producer succeeded and every record reached the output.
  [[nodiscard]] PIPEKIT_EXPORT bool success() const noexcept;
};

// Runs `producers` at once (each command's stdout is replaced by a pipe of
// its own; stdin and stderr stay as the command says) and merges their
// records into `out` until every producer's output ends. A producer that
// cannot start is reported in its result and the others run. Throws
// std::system_error for an empty list or when the machinery cannot be set
// up; the error_code form sets `ec` then.
PIPEKIT_EXPORT fan_in_result fan_in(const std::vector<command>& producers, stream& out,
                                    const fan_in_options& options = {});
PIPEKIT_EXPORT fan_in_result fan_in(const std::vector<command>& producers, stream& out, const fan_in_options& options,
                                    std::error_code& ec);

}  // namespace pipekit
