// pipekit::spawn_mesh / join_mesh (pipekit/topology/mesh.hpp): every member
// of a 16-process mesh sends to and receives from every other, through the
// child helper's mesh-member mode.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "helpers/test_support.hpp"
#include "pipekit/error.hpp"
#include "pipekit/topology/mesh.hpp"

#ifndef _WIN32
#include <sys/resource.h>
#endif

namespace {

using pipekit_test::child;

TEST(mesh, sixteen_members_each_hear_from_every_other_once_and_from_the_right_peer) {
  std::vector<pipekit::command> members;
  for (int i = 0; i < 16; ++i) {
    pipekit::command c = child({"mesh-member"});
    c.set_stdout(pipekit::stdio::pipe());
    members.push_back(c);
  }
  pipekit::running_mesh m = pipekit::spawn_mesh(members);
  ASSERT_EQ(m.size(), 16u);
  for (std::size_t i = 0; i < m.size(); ++i)
    EXPECT_EQ(m.member(i).out().read_to_end(), "ok " + std::to_string(i) + "\n") << "member " << i;
  const pipekit::pipeline_result r = m.wait();
  EXPECT_TRUE(r.success());
  for (const auto& s : r.stages) EXPECT_TRUE(s.status.success()) << s.status.to_string();
}

TEST(mesh, a_member_that_cannot_start_stops_the_mesh) {
  std::vector<pipekit::command> members{child({"mesh-member"}), pipekit::command{"pipekit-no-such-program"},
                                        child({"mesh-member"})};
  std::error_code ec;
  std::string why;
  pipekit::running_mesh m = pipekit::spawn_mesh(members, {}, ec, why);
  EXPECT_TRUE(ec);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_NE(why.find("member 1 (pipekit-no-such-program)"), std::string::npos) << why;
#ifndef _WIN32
  EXPECT_EQ(pipekit_test::zombie_children(), 0);
#endif
}

TEST(mesh, join_mesh_outside_a_mesh_is_a_clear_error) {
  std::error_code ec;
  const pipekit::mesh_membership me = pipekit::join_mesh({}, ec);
  EXPECT_EQ(ec, pipekit::errc::invalid_argument);
  EXPECT_TRUE(me.peers.empty());
}

#ifndef _WIN32
TEST(mesh, the_descriptor_budget_is_checked_before_anything_is_made) {
  struct rlimit lowered {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lowered), 0);
  lowered.rlim_cur = 128;  // 16 members need 240 descriptors at once
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const int open_before = pipekit_test::open_fd_count();
  std::vector<pipekit::command> members(16, child({"mesh-member"}));
  std::error_code ec;
  std::string why;
  pipekit::running_mesh m = pipekit::spawn_mesh(members, {}, ec, why);
  EXPECT_EQ(ec, std::errc::too_many_files_open);
  EXPECT_NE(why.find("needs 240 descriptors"), std::string::npos) << why;
  EXPECT_NE(why.find("is 128"), std::string::npos) << why;
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(pipekit_test::open_fd_count(), open_before);  // nothing was made
  EXPECT_EQ(pipekit_test::zombie_children(), 0);
  // A mesh that fits under the same limit still runs.
  std::vector<pipekit::command> small(4, child({"mesh-member"}));
  pipekit::running_mesh ok = pipekit::spawn_mesh(small, {}, ec, why);
  ASSERT_FALSE(ec) << why;
  EXPECT_TRUE(ok.wait().success());
}
#endif

}  // namespace
