// fan_out: one source sent to N consumers — every byte to each of them
// (copy, what `tee >(a) >(b)` does) or each record to one of them (scatter,
// to share work out).
//
//   std::vector<pipekit::command> consumers{{"sha256sum"}, {"gzip", "-c"}};
//   consumers[1].set_stdout(pipekit::stdio::file("out.gz", pipekit::file_mode::write));
//   pipekit::fan_out_result r = pipekit::fan_out(source, consumers);
//   r.statuses().shell_code();    // as for a pipeline: the rightmost failure
//
// Copying, on Linux, moves no byte through this process: each chunk of the
// source pipe is tee(2)'d into every consumer's pipe but the last and
// spliced into the last (a source that is not a pipe is first spliced into
// one of pipekit's). Elsewhere it is read once and written to each. Memory
// is bounded either way (the pipes and one chunk): the source goes at the
// pace of the slowest consumer. By default a slow consumer is waited for;
// with when_slow = drop, one that takes nothing for slow_after is dropped:
// its input is closed (it sees the end), and its result says so.
//
// A consumer that exits, or closes its input, before the end does not stop
// the others: its broken pipe is counted (left_early), not an error; its
// exit status is its own. When every consumer has left, the source is not
// read further.
//
// Scattering deals whole records (lines, or channel frames: 4-byte
// big-endian length, multiprocessing.connection's framing) round-robin or
// to whichever consumer is ready for more, never splitting one. Records a
// consumer did not take because it left early or was dropped are dealt to
// the others: none is lost while one consumer remains.
//
// The consumers' stdout is theirs (command::set_stdout), or with
// merged_output set all of it is merged into that stream a whole line at a
// time, as fan_in merges (never a torn line).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/process.hpp"
#include "pipekit/stream.hpp"
#include "pipekit/topology/pipeline.hpp"
#include "pipekit/topology/progress.hpp"
#include "pipekit/topology/record_format.hpp"

namespace pipekit {

enum class fan_out_mode {
  copy,     // every byte to every consumer
  scatter,  // each record to one consumer
};

enum class scatter_order {
  round_robin,  // record k to consumer k mod N (skipping those gone)
  ready,        // to whichever consumer has room for it first
};

enum class slow_consumer {
  wait,  // the source waits for it (bounded memory, like tee)
  drop,  // after slow_after without progress its input is closed
};

struct fan_out_options {
  fan_out_mode mode = fan_out_mode::copy;
  scatter_order order = scatter_order::round_robin;
  record_format records = record_format::lines;
  // Scatter: the longest record held; a longer one ends the fan-out with
  // message_too_large (in source_error), after every record before it.
  std::size_t max_record_size = std::size_t{16} << 20;

  slow_consumer when_slow = slow_consumer::wait;
  std::chrono::milliseconds slow_after{10000};

  // Every consumer's stdout merged into this stream line by line (each
  // command's own stdout setting is then replaced); nullptr leaves it as the
  // command says.
  stream* merged_output = nullptr;
  // Written before each merged line of consumer i; none when empty.
  std::function<std::string(std::size_t consumer)> prefix;
  // The longest merged line held for one consumer.
  std::size_t max_line = std::size_t{16} << 20;

  // Every consumer still running then is terminated (and its descendants).
  deadline until = no_deadline;
  // Called about every 100 ms while bytes move, from the thread that called
  // fan_out(): consumer i's bytes delivered into its input so far.
  progress_callback on_progress;
};

struct consumer_result {
  stage_result stage;
  std::uint64_t bytes = 0;    // delivered into its input
  std::uint64_t records = 0;  // scatter: whole records delivered
  bool left_early = false;    // its input closed before the end (broken pipe)
  // left_early: bytes still in its pipe when it left, that it never read
  // (included in `bytes`: they were delivered to its pipe). Bytes written
  // before it left cannot be taken back, so scatter deals again only what
  // it was not given; this says how much of what it was given it missed.
  // POSIX only: Windows empties a pipe when its reader closes (0 there).
  std::uint64_t unread = 0;
  bool dropped = false;  // when_slow = drop: it was too slow and was cut off
  // What writing its input failed with, other than left_early's broken pipe
  // (timed_out when dropped).
  std::error_code error;
  // merged_output: its lines written there, as fan_in counts them.
  std::uint64_t output_lines = 0;
  std::uint64_t output_bytes = 0;
  std::error_code output_error;  // message_too_large: a line passed max_line
};

struct fan_out_result {
  std::vector<consumer_result> consumers;
  std::uint64_t source_bytes = 0;         // read from the source
  bool source_finished = false;           // its end was reached (not: every consumer left)
  std::error_code source_error;           // reading it failed, or a record was too large
  std::uint64_t undelivered_records = 0;  // scatter: no consumer was left to take them
  std::error_code output_error;           // writing merged_output failed
  bool timed_out = false;

  // The consumers' statuses as a pipeline result (success(), shell_code()).
  [[nodiscard]] PIPEKIT_EXPORT pipeline_result statuses() const;
  // Every consumer succeeded, the whole source was delivered, none dropped.
  [[nodiscard]] PIPEKIT_EXPORT bool success() const noexcept;
};

// Runs `consumers` at once, each with its stdin replaced by a pipe from
// pipekit, sends `source` to them until its end, closes their inputs and
// waits for them. A consumer that cannot start is reported in its result
// and the others run. Throws std::system_error for an empty list or when the
// machinery cannot be set up; the error_code form sets `ec` then.
PIPEKIT_EXPORT fan_out_result fan_out(handle_stream& source, const std::vector<command>& consumers,
                                      const fan_out_options& options = {});
PIPEKIT_EXPORT fan_out_result fan_out(handle_stream& source, const std::vector<command>& consumers,
                                      const fan_out_options& options, std::error_code& ec);

}  // namespace pipekit
