#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <fstream>

#include "pipekit/error.hpp"
#include "sys/pipe_capacity.hpp"

namespace pipekit::detail {

std::size_t get_pipe_capacity(native_handle_type h, std::error_code& ec) noexcept {
  const int n = ::fcntl(h, F_GETPIPE_SZ);
  if (n < 0) {
    ec = system_error_code(errno);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes, std::error_code& ec) noexcept {
  if (bytes > static_cast<std::size_t>(INT_MAX)) {
    ec = system_error_code(EINVAL);
    return 0;
  }
  const int n = ::fcntl(h, F_SETPIPE_SZ, static_cast<int>(bytes));
  if (n < 0) {
    ec = system_error_code(errno);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

namespace {

std::size_t budget_limit() noexcept {
  // Privileged users are not subject to the per-user accounting. Asked each
  // time: a process may drop privileges after its first pipe.
  if (::geteuid() == 0) return SIZE_MAX;
  static const std::size_t soft_limit_bytes = []() -> std::size_t {
    std::size_t pages = 0;
    try {
      std::ifstream in("/proc/sys/fs/pipe-user-pages-soft");
      if (!(in >> pages)) return SIZE_MAX;
    } catch (...) {
      return SIZE_MAX;
    }
    if (pages == 0) return SIZE_MAX;  // 0 means no soft limit
    return pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  }();
  return soft_limit_bytes == SIZE_MAX ? SIZE_MAX : soft_limit_bytes / 2;
}

std::atomic<std::size_t> budget_used{0};

}  // namespace

bool take_pipe_budget(std::size_t bytes) noexcept {
  const std::size_t limit = budget_limit();
  std::size_t used = budget_used.load(std::memory_order_relaxed);
  do {
    if (bytes > limit || used > limit - bytes) return false;
  } while (!budget_used.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

void give_pipe_budget(std::size_t bytes) noexcept { budget_used.fetch_sub(bytes, std::memory_order_relaxed); }

}  // namespace pipekit::detail
