// Linux: finding a child's whole tree, also the descendants that left its
// process group (setsid(), setpgid()), so terminate() can end them too.
//
// Each descendant is found through /proc/<pid>/task/<tid>/children and held
// by a pidfd (signals through it cannot hit a recycled pid), and is stopped
// with SIGSTOP before its own children are read, so it cannot fork behind
// the walk's back. The walk repeats until a pass finds nobody new.
//
// What it cannot see: a descendant whose parent has already exited was
// re-parented to init (or to the nearest child subreaper) and is no longer
// anybody's descendant here; become_subreaper() plus kill_own_descendants()
// cover that case for a program that owns all its children.
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "posix/syscall.hpp"
#include "sys/process_tree.hpp"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace pipekit::detail {
namespace {

int pidfd_open(int pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// The state letter and the parent of `pid`, from /proc/<pid>/stat.
bool read_stat(int pid, char& state, int& ppid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto close_paren = line.rfind(')');  // the name may hold spaces and parentheses
  if (close_paren == std::string::npos || close_paren + 2 >= line.size()) return false;
  std::istringstream rest(line.substr(close_paren + 2));
  return static_cast<bool>(rest >> state >> ppid);
}

// The children of every thread of `pid` (a child belongs to the thread that
// forked it).
std::vector<int> children_of(int pid) {
  std::vector<int> kids;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(task_dir.c_str());
  if (d == nullptr) return kids;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(task_dir + "/" + e->d_name + "/children");
    for (int kid = 0; in >> kid;) kids.push_back(kid);
  }
  ::closedir(d);
  return kids;
}

// Waits (briefly) until `pid` is stopped or dead: only then is its list of
// children final. A process in uninterruptible sleep stops when it wakes.
void settle(int pid) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  for (auto pause = std::chrono::microseconds(20);; pause = std::min(pause * 2, std::chrono::microseconds(5000))) {
    char state = 0;
    int ppid = 0;
    if (!read_stat(pid, state, ppid) || state == 'T' || state == 't' || state == 'Z' || state == 'X') return;
    if (std::chrono::steady_clock::now() >= until) return;
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace

void process_tree::freeze_descendants_of(int root, bool stop_root) noexcept try {
  std::vector<int> frontier{root};
  if (stop_root) {
    ::kill(root, SIGSTOP);
    settle(root);
  }
  // Members found earlier may have forked since (they ran between phases).
  for (const member& m : members_) frontier.push_back(m.pid);
  while (!frontier.empty()) {
    const int parent = frontier.back();
    frontier.pop_back();
    for (const int kid : children_of(parent)) {
      if (std::any_of(members_.begin(), members_.end(), [kid](const member& m) { return m.pid == kid; })) continue;
      handle fd{pidfd_open(kid)};
      if (!fd) continue;  // gone already
      // The pid was read before the pidfd was opened: make sure it is still
      // the same process (still a child of `parent`, which cannot be reaped
      // while it is stopped... or is the leader we have not reaped).
      char state = 0;
      int ppid = 0;
      if (!read_stat(kid, state, ppid) || ppid != parent) continue;
      pidfd_signal(fd.native_handle(), SIGSTOP);
      settle(kid);
      members_.push_back({kid, std::move(fd)});
      frontier.push_back(kid);
    }
  }
} catch (...) {
  // Out of memory while walking: signal what was found.
}

void process_tree::signal(int sig) noexcept {
  for (const member& m : members_) pidfd_signal(m.fd.native_handle(), sig);
}

bool process_tree::supported() noexcept {
  static const bool have = [] {
    handle fd{pidfd_open(::getpid())};
    return fd.is_open();
  }();
  return have;
}

void become_subreaper(std::error_code& ec) noexcept {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) ec = system_error_code(errno);
}

std::size_t kill_own_descendants(std::error_code& ec) noexcept {
  if (!process_tree::supported()) {
    ec = make_error_code(errc::not_supported);
    return 0;
  }
  process_tree tree;
  tree.freeze_descendants_of(::getpid(), false);
  tree.signal(SIGKILL);
  tree.reap_own_children();
  return tree.size();
}

void process_tree::reap_own_children() noexcept try {
  // Only the members that are our children: other children of this
  // process belong to someone else's wait().
  const int me = ::getpid();
  for (const member& m : members_) {
    char state = 0;
    int ppid = 0;
    if (!read_stat(m.pid, state, ppid) || ppid != me) continue;
    (void)posix::retry_eintr([&] { return ::waitpid(m.pid, nullptr, 0); });
  }
} catch (...) {
  // Out of memory reading /proc: the dead stay zombies until we exit.
}

}  // namespace pipekit::detail
