// Internal: the descendants of a child that its process group does not hold
// (they called setsid() or setpgid()), for terminate() and the kill on
// destruction. Linux finds them through /proc (src/linux/process_tree_linux.cpp);
// elsewhere the tree is empty (src/process_tree_none.cpp): Windows' job
// object already holds the whole tree, other POSIX systems reach the group.
#pragma once

#include <cstddef>
#include <system_error>
#include <vector>

#include "pipekit/handle.hpp"

namespace pipekit::detail {

class process_tree {
 public:
  // Adds every descendant of `root` not yet held, and every new descendant
  // of those already held, each stopped (SIGSTOP) so it cannot fork while
  // the walk goes on. `stop_root`: stop `root` first (an unreaped child of
  // ours; its pid cannot be reused).
  void freeze_descendants_of(int root, bool stop_root) noexcept;
  // Sends `sig` to every member (through pidfds: never to a recycled pid).
  void signal(int sig) noexcept;
  // Reaps the members that are children of this process (after SIGKILL).
  void reap_own_children() noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
  // Whether this system can find descendants at all.
  [[nodiscard]] static bool supported() noexcept;

 private:
  struct member {
    int pid;
    handle fd;
  };
  std::vector<member> members_;
};

void become_subreaper(std::error_code& ec) noexcept;
std::size_t kill_own_descendants(std::error_code& ec) noexcept;

}  // namespace pipekit::detail
