// pipekit::pipeline (pipekit/topology/pipeline.hpp) on both systems, with
// the child helper's modes as stages.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "helpers/temp_dir.hpp"
#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/topology/pipeline.hpp"

namespace {

using namespace std::chrono_literals;
using pipekit_test::child;
using pipekit_test::pattern;

std::string read_file(const std::filesystem::path& p) {
  pipekit::command c = child({"echo"});
  c.set_stdin(pipekit::stdio::file(p, pipekit::file_mode::read)).set_stdout(pipekit::stdio::pipe());
  pipekit::process proc = c.spawn();
  std::string s = proc.out().read_to_end();
  (void)proc.wait();
  return s;
}

TEST(pipeline, bytes_flow_through_every_stage_and_every_status_is_reported) {
  pipekit::pipeline p{child({"spew", "300000"}), child({"echo"}), child({"echo"}), child({"count-bytes"})};
  p.set_stdout(pipekit::stdio::pipe());
  pipekit::running_pipeline r = p.spawn();
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(r.out().read_to_end(), "300000\n");
  const pipekit::pipeline_result res = r.wait();
  ASSERT_EQ(res.stages.size(), 4u);
  for (const auto& s : res.stages) {
    EXPECT_TRUE(s.status.success()) << s.status.to_string();
    EXPECT_FALSE(s.start_error);
    EXPECT_GT(s.run_time.count(), 0);
  }
  EXPECT_TRUE(res.success());
  EXPECT_EQ(res.shell_code(), 0);
  EXPECT_FALSE(res.rightmost_failure());
  EXPECT_TRUE(res.pipefail_status().success());
}

TEST(pipeline, the_rightmost_failure_is_the_pipefail_status) {
  pipekit::pipeline p{child({"exit", "3"}), child({"exit", "5"}), child({"exit", "0"})};
  const pipekit::pipeline_result res = p.spawn().wait();
  EXPECT_FALSE(res.success());
  ASSERT_TRUE(res.rightmost_failure());
  EXPECT_EQ(*res.rightmost_failure(), 1u);
  EXPECT_EQ(res.pipefail_status().code(), 5);
  EXPECT_EQ(res.shell_code(), 5);
  EXPECT_EQ(res.stages[0].status.code(), 3);
}

TEST(pipeline, input_from_a_pipe_and_output_to_a_file) {
  pipekit_test::temp_dir dir;
  const auto out = dir.path() / "out.txt";
  pipekit::pipeline p{child({"echo"}), child({"count-bytes"})};
  p.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::file(out, pipekit::file_mode::write));
  pipekit::running_pipeline r = p.spawn();
  r.in().write_all(pattern(12345));
  r.in().close();
  EXPECT_TRUE(r.wait().success());
  EXPECT_EQ(read_file(out), "12345\n");
}

TEST(pipeline, input_from_a_handle_the_caller_keeps) {
  pipekit::pipe_pair source = pipekit::make_pipe();
  pipekit::pipeline p{child({"echo"}), child({"count-bytes"})};
  p.set_stdin(pipekit::stdio::from(source.read_end.native_handle())).set_stdout(pipekit::stdio::pipe());
  pipekit::running_pipeline r = p.spawn();
  source.read_end.close();
  source.write_end.write_all(pattern(777));
  source.write_end.close();
  EXPECT_EQ(r.out().read_to_end(), "777\n");
  EXPECT_TRUE(r.wait().success());
}

TEST(pipeline, a_stage_stderr_merged_into_its_edge) {
  // The first stage writes 1000 bytes to stderr only; merged (2>&1), they
  // reach the next stage.
  pipekit::command noisy = child({"spew", "1000", "2"});
  noisy.set_stderr(pipekit::stdio::to_stdout());
  pipekit::pipeline p{noisy, child({"count-bytes"})};
  p.set_stdout(pipekit::stdio::pipe());
  pipekit::running_pipeline r = p.spawn();
  EXPECT_EQ(r.out().read_to_end(), "1000\n");
  EXPECT_TRUE(r.wait().success());
}

TEST(pipeline, a_stage_stderr_captured_on_its_own) {
  pipekit::command noisy = child({"spew", "2000", "2"});
  noisy.set_stderr(pipekit::stdio::pipe());
  pipekit::pipeline p{noisy, child({"count-bytes"})};
  p.set_stdout(pipekit::stdio::pipe());
  pipekit::running_pipeline r = p.spawn();
  EXPECT_EQ(r.stage(0).err().read_to_end(), pattern(2000));
  EXPECT_EQ(r.out().read_to_end(), "0\n");
  EXPECT_TRUE(r.wait().success());
}

TEST(pipeline, a_missing_program_stops_everything_by_default_and_names_its_stage) {
  pipekit::pipeline p{child({"sleep", "60000"}), pipekit::command{"pipekit-no-such-program"}, child({"echo"})};
  std::error_code ec;
  pipekit::pipeline_failure why;
  const auto t0 = pipekit::clock::now();
  pipekit::running_pipeline r = p.spawn(ec, why);
  EXPECT_TRUE(ec);
  EXPECT_EQ(why.stage, 1u);
  EXPECT_EQ(why.program, "pipekit-no-such-program");
  EXPECT_EQ(why.why.stage, pipekit::spawn_stage::exec);
  EXPECT_EQ(r.size(), 0u);
  // The sleeping first stage was killed and reaped, not waited for.
  EXPECT_LT(pipekit::clock::now() - t0, 30s);
#ifndef _WIN32
  EXPECT_EQ(pipekit_test::zombie_children(), 0);
#endif
}

TEST(pipeline, the_throwing_spawn_says_which_stage) {
  pipekit::pipeline p{child({"echo"}), pipekit::command{"pipekit-no-such-program"}};
  try {
    (void)p.spawn();
    FAIL() << "spawn() did not throw";
  } catch (const pipekit::pipeline_error& e) {
    EXPECT_EQ(e.failure().stage, 1u);
    EXPECT_NE(std::string(e.what()).find("stage 1 (pipekit-no-such-program)"), std::string::npos) << e.what();
  }
}

TEST(pipeline, run_others_runs_the_rest_like_a_shell) {
  pipekit::pipeline p{child({"spew", "100000"}), pipekit::command{"pipekit-no-such-program"}, child({"count-bytes"})};
  p.set_stdout(pipekit::stdio::pipe()).when_start_fails(pipekit::on_start_failure::run_others);
  std::error_code ec;
  pipekit::running_pipeline r = p.spawn(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(r.stage(1).valid());
  // The failed stage's edges are closed: the last stage sees the end at once,
  // the first a broken pipe.
  EXPECT_EQ(r.out().read_to_end(), "0\n");
  const pipekit::pipeline_result res = r.wait();
  EXPECT_TRUE(res.stages[1].start_error);
  EXPECT_FALSE(res.stages[1].status.started());
  EXPECT_EQ(res.stages[2].status.code(), 0);
  EXPECT_FALSE(res.stages[0].status.success());  // wrote into a closed pipe
  ASSERT_TRUE(res.rightmost_failure());
  EXPECT_EQ(*res.rightmost_failure(), 1u);
  EXPECT_EQ(res.shell_code(), 127);
}

TEST(pipeline, a_missing_input_file_is_status_1_like_a_failed_redirection) {
  pipekit::pipeline p{child({"echo"}), child({"count-bytes"})};
  p.set_stdin(pipekit::stdio::file("pipekit-no-such-dir/in.txt", pipekit::file_mode::read))
      .set_stdout(pipekit::stdio::pipe())
      .when_start_fails(pipekit::on_start_failure::run_others);
  pipekit::running_pipeline r = p.spawn();
  EXPECT_EQ(r.out().read_to_end(), "0\n");
  const pipekit::pipeline_result res = r.wait();
  EXPECT_EQ(res.stages[0].start_failure.stage, pipekit::spawn_stage::open);
  EXPECT_EQ(res.shell_code(), 1);
}

TEST(pipeline, wait_until_times_out_and_terminate_ends_every_stage) {
  pipekit::pipeline p{child({"sleep", "60000"}), child({"echo"}), child({"sleep", "60000"})};
  pipekit::running_pipeline r = p.spawn();
  EXPECT_FALSE(r.wait_until(pipekit::after(200ms)));
  const auto t0 = pipekit::clock::now();
  pipekit::terminate_options t;
  t.grace = 5s;
  const pipekit::pipeline_result res = r.terminate(t);
  EXPECT_LT(pipekit::clock::now() - t0, 20s);
  ASSERT_EQ(res.stages.size(), 3u);
  for (const auto& s : res.stages) EXPECT_FALSE(s.status.success()) << s.status.to_string();
#ifndef _WIN32
  EXPECT_EQ(res.stages[0].status.signal(), 15);
  EXPECT_EQ(pipekit_test::zombie_children(), 0);
#endif
}

TEST(pipeline, run_times_show_which_stage_ended_first) {
  pipekit::pipeline p{child({"sleep", "50"}), child({"sleep", "1500"})};
  const pipekit::pipeline_result res = p.spawn().wait();
  ASSERT_TRUE(res.success());
  EXPECT_LT(res.stages[0].run_time, res.stages[1].run_time);
  EXPECT_GE(res.stages[1].run_time, 1500ms);
}

TEST(pipeline, metered_edges_count_every_byte_and_change_nothing_else) {
  pipekit::pipeline p{child({"spew", "300000"}), child({"echo"}), child({"count-bytes"})};
  p.set_stdout(pipekit::stdio::pipe()).meter();
  pipekit::running_pipeline r = p.spawn();
  EXPECT_EQ(r.edge_count(), 2u);
  EXPECT_EQ(r.out().read_to_end(), "300000\n");
  const pipekit::pipeline_result res = r.wait();
  EXPECT_TRUE(res.success());
  ASSERT_EQ(res.edges.size(), 2u);
  for (const auto& e : res.edges) {
    EXPECT_EQ(e.bytes, 300000u);
    EXPECT_FALSE(e.error) << e.error.message();
    EXPECT_GT(e.duration.count(), 0);
    EXPECT_GT(e.bytes_per_second(), 0.0);
  }
  EXPECT_EQ(r.edge_bytes(0), 300000u);
}

TEST(pipeline, edge_counters_move_while_the_pipeline_runs) {
  pipekit::pipeline p{child({"echo"}), child({"count-bytes"})};
  p.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).meter();
  pipekit::running_pipeline r = p.spawn();
  r.in().write_all(pattern(5000));
  const auto until = pipekit::after(20s);
  while (r.edge_bytes(0) < 5000 && pipekit::clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(r.edge_bytes(0), 5000u);
  r.in().write_all(pattern(1000));
  r.in().close();
  EXPECT_EQ(r.out().read_to_end(), "6000\n");
  EXPECT_EQ(r.wait().edges.at(0).bytes, 6000u);
}

TEST(pipeline, a_metered_edge_whose_reader_leaves_breaks_the_writers_pipe) {
  // The last stage exits without reading: the relay sees the broken pipe and
  // passes it upstream, as one pipe would have.
  pipekit::pipeline p{child({"spew", "50000000"}), child({"exit", "0"})};
  p.meter();
  const pipekit::pipeline_result res = p.spawn().wait();
  ASSERT_EQ(res.edges.size(), 1u);
  EXPECT_EQ(res.edges[0].error, std::errc::broken_pipe);
  EXPECT_LT(res.edges[0].bytes, 50000000u);
  EXPECT_FALSE(res.stages[0].status.success());
  EXPECT_TRUE(res.stages[1].status.success());
}

TEST(pipeline, unmetered_pipelines_have_no_edges_to_report) {
  pipekit::pipeline p{child({"exit", "0"}), child({"exit", "0"})};
  pipekit::running_pipeline r = p.spawn();
  EXPECT_EQ(r.edge_count(), 0u);
  EXPECT_EQ(r.edge_bytes(0), 0u);
  EXPECT_TRUE(r.wait().edges.empty());
}

TEST(pipeline, an_empty_pipeline_is_invalid) {
  pipekit::pipeline p;
  std::error_code ec;
  (void)p.spawn(ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
}

TEST(pipeline, one_stage_is_a_pipeline_too) {
  pipekit::pipeline p{child({"exit", "4"})};
  EXPECT_EQ(p.spawn().wait().shell_code(), 4);
}

}  // namespace
