#include <limits.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "pipekit/error.hpp"
#include "pipekit/limits.hpp"
#include "pipekit/pipe.hpp"

namespace pipekit {

namespace {

std::optional<std::uint64_t> read_proc_number(const char* path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  if (in >> v) return v;
  return std::nullopt;
}

void read_rlimit(int resource, std::optional<std::uint64_t>& soft, std::optional<std::uint64_t>& hard) {
  struct rlimit rl {};
  if (::getrlimit(resource, &rl) != 0) return;
  if (rl.rlim_cur != RLIM_INFINITY) soft = rl.rlim_cur;
  if (rl.rlim_max != RLIM_INFINITY) hard = rl.rlim_max;
}

}  // namespace

system_limits query_limits() {
  std::error_code ec;
  system_limits l = query_limits(ec);
  detail::throw_if(ec, "query_limits");
  return l;
}

system_limits query_limits(std::error_code& ec) noexcept try {
  ec.clear();
  system_limits l;
  l.pipe_atomic_write = PIPE_BUF;
  // The default capacity is what a fresh pipe gets from the OS.
  pipe_options raw;
  raw.capacity = 0;
  pipe_pair p = make_pipe(raw, ec);
  if (ec) return l;
  std::error_code cap_ec;
  l.pipe_default_capacity = pipe_capacity(p.read_end.native_handle(), cap_ec);
  if (cap_ec) l.pipe_default_capacity = 0;
  l.pipe_max_capacity = read_proc_number("/proc/sys/fs/pipe-max-size");
  // 0 in these files means "no limit".
  l.pipe_user_pages_soft = read_proc_number("/proc/sys/fs/pipe-user-pages-soft");
  if (l.pipe_user_pages_soft == 0u) l.pipe_user_pages_soft.reset();
  l.pipe_user_pages_hard = read_proc_number("/proc/sys/fs/pipe-user-pages-hard");
  if (l.pipe_user_pages_hard == 0u) l.pipe_user_pages_hard.reset();
  read_rlimit(RLIMIT_NOFILE, l.descriptors_soft, l.descriptors_hard);
  read_rlimit(RLIMIT_NPROC, l.processes_soft, l.processes_hard);
  return l;
} catch (...) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

}  // namespace pipekit
