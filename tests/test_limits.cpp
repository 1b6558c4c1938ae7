#include <gtest/gtest.h>
#include <limits.h>
#include <sys/resource.h>

#include "pipekit/limits.hpp"

namespace {

TEST(limits, match_what_the_system_reports) {
  const pipekit::system_limits l = pipekit::query_limits();
  EXPECT_EQ(l.pipe_atomic_write, static_cast<std::uint64_t>(PIPE_BUF));
  EXPECT_EQ(l.pipe_default_capacity, 65536u);  // Linux's default: 16 pages
  ASSERT_TRUE(l.pipe_max_capacity.has_value());
  EXPECT_GE(*l.pipe_max_capacity, l.pipe_default_capacity);
  struct rlimit rl {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur == RLIM_INFINITY) EXPECT_FALSE(l.descriptors_soft.has_value());
  else EXPECT_EQ(l.descriptors_soft, rl.rlim_cur);
  ASSERT_EQ(::getrlimit(RLIMIT_NPROC, &rl), 0);
  if (rl.rlim_max == RLIM_INFINITY) EXPECT_FALSE(l.processes_hard.has_value());
  else EXPECT_EQ(l.processes_hard, rl.rlim_max);
}

}  // namespace
