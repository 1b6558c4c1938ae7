// pipekit::fan_out (pipekit/topology/fan_out.hpp) on both systems: copies
// checked by the child helper's `checksum` mode, scatter by `echo`
// consumers whose merged output must hold every record once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/topology/fan_out.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit_test::child;

// Runs fan_out with `source_command`'s stdout as the source and the
// consumers' output merged into a pipe drained by a thread; returns what
// came out.
std::string run(const pipekit::command& source_command, const std::vector<pipekit::command>& consumers,
                pipekit::fan_out_options options, pipekit::fan_out_result& result) {
  pipekit::command src = source_command;
  src.set_stdout(pipekit::stdio::pipe());
  pipekit::process producer = src.spawn();
  pipekit::pipe_pair merged = pipekit::make_pipe();
  std::string out;
  std::thread reader([&] { out = merged.read_end.read_to_end(); });
  options.merged_output = &merged.write_end;
  result = pipekit::fan_out(producer.out(), consumers, options);
  merged.write_end.close();
  reader.join();
  producer.out().close();
  (void)producer.wait();
  return out;
}

// The same with a string as the source, written by a thread into a pipe.
std::string run_text(const std::string& text, const std::vector<pipekit::command>& consumers,
                     pipekit::fan_out_options options, pipekit::fan_out_result& result) {
  pipekit::pipe_pair source = pipekit::make_pipe();
  std::thread writer([&] {
    std::error_code ec;
    (void)source.write_end.write_all(text, ec);
    source.write_end.close(ec);
  });
  pipekit::pipe_pair merged = pipekit::make_pipe();
  std::string out;
  std::thread reader([&] { out = merged.read_end.read_to_end(); });
  options.merged_output = &merged.write_end;
  result = pipekit::fan_out(source.read_end, consumers, options);
  source.read_end.close();
  writer.join();
  merged.write_end.close();
  reader.join();
  return out;
}

std::vector<std::string> sorted_lines(const std::string& s) {
  std::vector<std::string> v = pipekit_test::split_lines(s);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(fan_out, copies_every_byte_to_every_consumer) {
  constexpr std::size_t bytes = 3'000'000;
  pipekit::fan_out_result r;
  const std::string out = run(child({"spew", std::to_string(bytes)}),
                              {child({"checksum"}), child({"checksum"}), child({"checksum"})}, {}, r);
  ASSERT_TRUE(r.success()) << r.source_error.message();
  EXPECT_EQ(r.source_bytes, bytes);
  const std::vector<std::string> lines = pipekit_test::split_lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  for (const auto& l : lines) EXPECT_EQ(l, pipekit_test::spew_checksum(bytes));
  for (const auto& c : r.consumers) {
    EXPECT_EQ(c.bytes, bytes);
    EXPECT_FALSE(c.left_early);
    EXPECT_EQ(c.output_lines, 1u);
  }
}

#ifndef _WIN32
TEST(fan_out, a_source_that_is_not_a_pipe_is_copied_too) {
  // A file as the source (`pipekit fanout ... < file`): on Linux it is
  // spliced into a staging pipe first.
  const std::string path = pipekit_test::unique_name("fan_out_source");
  const std::string text = pipekit_test::pattern(700'000);
  {
    pipekit::handle_stream f(pipekit::handle(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)));
    f.write_all(text);
  }
  pipekit::handle_stream source(pipekit::handle(::open(path.c_str(), O_RDONLY | O_CLOEXEC)));
  ::unlink(path.c_str());
  pipekit::pipe_pair merged = pipekit::make_pipe();
  std::string out;
  std::thread reader([&] { out = merged.read_end.read_to_end(); });
  pipekit::fan_out_options options;
  options.merged_output = &merged.write_end;
  const pipekit::fan_out_result r = pipekit::fan_out(source, {child({"checksum"}), child({"checksum"})}, options);
  merged.write_end.close();
  reader.join();
  ASSERT_TRUE(r.success());
  EXPECT_EQ(out, pipekit_test::spew_checksum(text.size()) + "\n" + pipekit_test::spew_checksum(text.size()) + "\n");
}
#endif

TEST(fan_out, a_consumer_that_exits_early_does_not_stop_the_others) {
  constexpr std::size_t bytes = 8'000'000;  // more than its pipe holds: it sees a broken pipe
  pipekit::fan_out_result r;
  const std::string out = run(child({"spew", std::to_string(bytes)}),
                              {child({"exit", "0"}), child({"checksum"}), child({"exit", "3"})}, {}, r);
  EXPECT_EQ(out, pipekit_test::spew_checksum(bytes) + "\n");
  EXPECT_TRUE(r.source_finished);
  EXPECT_TRUE(r.consumers[0].left_early);
  EXPECT_TRUE(r.consumers[2].left_early);
  EXPECT_FALSE(r.consumers[1].left_early);
  EXPECT_EQ(r.consumers[1].bytes, bytes);
  EXPECT_FALSE(r.consumers[0].error);  // counted, not an error
  // The statuses are their own: the rightmost failure is consumer 2's 3.
  EXPECT_EQ(r.statuses().shell_code(), 3);
  EXPECT_FALSE(r.success());
}

TEST(fan_out, every_consumer_leaving_stops_reading_the_source) {
  pipekit::fan_out_result r;
  (void)run(child({"spew", "50000000"}), {child({"exit", "0"}), child({"exit", "0"})}, {}, r);
  EXPECT_FALSE(r.source_finished);
  EXPECT_LT(r.source_bytes, 50'000'000u);
  EXPECT_TRUE(r.consumers[0].left_early);
  EXPECT_TRUE(r.consumers[1].left_early);
}

TEST(fan_out, a_slow_consumer_is_dropped_when_asked) {
  constexpr std::size_t bytes = 8'000'000;
  pipekit::fan_out_options options;
  options.when_slow = pipekit::slow_consumer::drop;
  options.slow_after = 500ms;
  pipekit::fan_out_result r;
  // `sleep` never reads its input: once its pipe is full it takes nothing.
  const std::string out =
      run(child({"spew", std::to_string(bytes)}), {child({"checksum"}), child({"sleep", "3000"})}, options, r);
  EXPECT_EQ(out, pipekit_test::spew_checksum(bytes) + "\n");
  EXPECT_TRUE(r.consumers[1].dropped);
  EXPECT_TRUE(r.consumers[1].error == std::errc::timed_out) << r.consumers[1].error.message();
  EXPECT_LT(r.consumers[1].bytes, bytes);
  EXPECT_FALSE(r.consumers[0].dropped);
  EXPECT_FALSE(r.success());
}

TEST(fan_out, the_deadline_ends_everything) {
  pipekit::fan_out_options options;
  options.until = pipekit::after(1500ms);
  pipekit::fan_out_result r;
  (void)run(child({"spew", "8000000"}), {child({"sleep", "30000"}), child({"checksum"})}, options, r);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.success());
  // Both ended by pipekit, the reader too: it never saw an end of input
  // that would have said the input was whole.
  for (const auto& c : r.consumers) EXPECT_FALSE(c.stage.status.success()) << c.stage.status.to_string();
}

TEST(fan_out, a_consumer_that_cannot_start_is_reported_and_the_others_run) {
  pipekit::fan_out_result r;
  const std::string out =
      run(child({"spew", "100000"}), {pipekit::command{"pipekit-no-such-program"}, child({"checksum"})}, {}, r);
  EXPECT_EQ(out, pipekit_test::spew_checksum(100000) + "\n");
  EXPECT_TRUE(r.consumers[0].stage.start_error);
  EXPECT_EQ(r.statuses().shell_code(), 127);
}

std::string numbered_lines(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += "record " + std::to_string(i) + " " + std::string(i % 50, 'x') + "\n";
  return text;
}

TEST(fan_out, scatter_round_robin_deals_each_line_to_one_consumer_in_turn) {
  const std::string text = numbered_lines(3001);
  pipekit::fan_out_options options;
  options.mode = pipekit::fan_out_mode::scatter;
  options.prefix = [](std::size_t i) { return std::to_string(i) + ":"; };
  pipekit::fan_out_result r;
  const std::string out = run_text(text, {child({"echo"}), child({"echo"}), child({"echo"})}, options, r);
  ASSERT_TRUE(r.success());
  EXPECT_EQ(r.consumers[0].records, 1001u);
  EXPECT_EQ(r.consumers[1].records, 1000u);
  EXPECT_EQ(r.consumers[2].records, 1000u);
  // Record k went to consumer k mod 3.
  std::vector<std::string> expected;
  const std::vector<std::string> in = pipekit_test::split_lines(text);
  for (std::size_t k = 0; k < in.size(); ++k) expected.push_back(std::to_string(k % 3) + ":" + in[k]);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(sorted_lines(out), expected);
}

TEST(fan_out, scatter_to_the_ready_one_loses_no_record_and_keeps_lines_whole) {
  // Long lines, one consumer slow: each line reaches exactly one consumer.
  std::string text;
  for (int i = 0; i < 400; ++i)
    text += std::to_string(i) + std::string(20'000 + i, static_cast<char>('a' + i % 26)) + "\n";
  pipekit::fan_out_options options;
  options.mode = pipekit::fan_out_mode::scatter;
  options.order = pipekit::scatter_order::ready;
  pipekit::fan_out_result r;
  const std::string out = run_text(text, {child({"echo"}), child({"echo"})}, options, r);
  ASSERT_TRUE(r.success());
  EXPECT_EQ(sorted_lines(out), sorted_lines(text));
  EXPECT_EQ(r.consumers[0].records + r.consumers[1].records, 400u);
}

TEST(fan_out, scatter_deals_again_what_a_leaving_consumer_was_not_given) {
  const std::string text = numbered_lines(200000);  // more than the leaver's pipe holds
  for (auto order : {pipekit::scatter_order::round_robin, pipekit::scatter_order::ready}) {
    pipekit::fan_out_options options;
    options.mode = pipekit::fan_out_mode::scatter;
    options.order = order;
    pipekit::fan_out_result r;
    const std::string out = run_text(text, {child({"exit", "0"}), child({"echo"})}, options, r);
    EXPECT_TRUE(r.source_finished);
    EXPECT_EQ(r.undelivered_records, 0u);
    ASSERT_TRUE(r.consumers[0].left_early);
    // What the leaver's pipe took before it left is lost with it, and said
    // so (records, unread); every other record came out of the echo.
    const std::vector<std::string> got = sorted_lines(out);
    EXPECT_EQ(r.consumers[1].records, got.size());
    EXPECT_EQ(r.consumers[0].records + r.consumers[1].records, 200000u);
#ifndef _WIN32
    // Windows empties a pipe when its reader closes: nothing to measure there.
    EXPECT_EQ(r.consumers[0].unread, r.consumers[0].bytes);  // it read none of it
#endif
    EXPECT_TRUE(std::adjacent_find(got.begin(), got.end()) == got.end());  // none twice
  }
}

std::string frame(const std::string& payload) {
  std::string f(4, '\0');
  const auto n = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) f[i] = static_cast<char>(n >> (8 * (3 - i)));
  return f + payload;
}

TEST(fan_out, scatter_frames_whole) {
  // Frames whose payloads hold newlines: dealt whole by their headers.
  std::string text;
  std::size_t total = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string f = frame(std::string(i * 37 % 5000, '\n') + std::to_string(i));
    total += f.size();
    text += f;
  }
  pipekit::fan_out_options options;
  options.mode = pipekit::fan_out_mode::scatter;
  options.records = pipekit::record_format::frames;
  pipekit::fan_out_result r;
  // count-bytes consumers: the merged output is how many bytes each got.
  const std::string out = run_text(text, {child({"count-bytes"}), child({"count-bytes"})}, options, r);
  ASSERT_TRUE(r.success()) << r.source_error.message();
  EXPECT_EQ(r.consumers[0].records, 150u);
  EXPECT_EQ(r.consumers[1].records, 150u);
  EXPECT_EQ(r.consumers[0].bytes + r.consumers[1].bytes, total);
  const std::vector<std::string> lines = pipekit_test::split_lines(out);
  ASSERT_EQ(lines.size(), 2u);
  std::uint64_t counted = 0;
  for (const auto& l : lines) counted += std::stoull(l);
  EXPECT_EQ(counted, total);
}

TEST(fan_out, scatter_reports_a_truncated_frame_and_a_too_large_record) {
  pipekit::fan_out_options options;
  options.mode = pipekit::fan_out_mode::scatter;
  options.records = pipekit::record_format::frames;
  pipekit::fan_out_result r;
  (void)run_text(frame("whole") + frame("cut short").substr(0, 8), {child({"count-bytes"})}, options, r);
  EXPECT_EQ(r.source_error, pipekit::errc::protocol_error);
  EXPECT_EQ(r.consumers[0].records, 1u);

  options.records = pipekit::record_format::lines;
  options.max_record_size = 1000;
  (void)run_text("short\n" + std::string(5000, 'x') + "\nnot reached\n", {child({"count-bytes"})}, options, r);
  EXPECT_EQ(r.source_error, pipekit::errc::message_too_large);
  EXPECT_EQ(r.consumers[0].records, 1u);
  EXPECT_FALSE(r.success());
}

#ifndef _WIN32
long peak_rss_kib() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(fan_out, one_gib_to_three_consumers_one_slow_in_bounded_memory) {
  constexpr std::size_t bytes = std::size_t{1} << 30;
  const long before = peak_rss_kib();
  pipekit::fan_out_result r;
  const std::string out = run(child({"spew", std::to_string(bytes)}),
                              {child({"checksum"}), child({"checksum", "3"}), child({"checksum"})}, {}, r);
  const long grown_kib = peak_rss_kib() - before;
  ASSERT_TRUE(r.success()) << r.source_error.message();
  const std::vector<std::string> lines = pipekit_test::split_lines(out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], lines[1]);
  EXPECT_EQ(lines[1], lines[2]);
  EXPECT_EQ(lines[0].substr(0, lines[0].find(' ')), std::to_string(bytes));
  for (const auto& c : r.consumers) EXPECT_EQ(c.bytes, bytes);
  // The source went at the slow consumer's pace: nothing piled up here.
  EXPECT_LT(grown_kib, 64 * 1024) << "peak RSS grew by " << grown_kib << " KiB";
  std::printf("peak RSS grew by %ld KiB while copying 1 GiB to 3 consumers\n", grown_kib);
}
#endif

TEST(tee_some, copies_without_consuming_or_says_not_supported) {
  pipekit::pipe_pair from = pipekit::make_pipe();
  pipekit::pipe_pair to = pipekit::make_pipe();
  from.write_end.write_all("hello");
  std::error_code ec;
  const std::size_t n = pipekit::tee_some(from.read_end, to.write_end, 100, pipekit::after(5s), ec);
#ifdef __linux__
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(pipekit::pipe_buffered_bytes(to.read_end.native_handle(), ec), 5u);
  std::string a(5, '\0');
  (void)to.read_end.read_exact(std::as_writable_bytes(std::span(a)));
  EXPECT_EQ(a, "hello");
#else
  EXPECT_EQ(ec, pipekit::errc::not_supported);
  EXPECT_EQ(n, 0u);
#endif
  // `from` still holds the bytes.
  EXPECT_EQ(pipekit::pipe_buffered_bytes(from.read_end.native_handle(), ec), 5u);
  EXPECT_FALSE(ec);
  from.write_end.close();
  EXPECT_EQ(from.read_end.read_to_end(), "hello");
}

}  // namespace
