#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "sys/pipe_capacity.hpp"
#include "sys/stream_access.hpp"

namespace pipekit {

namespace {
// Creates both ends close-on-exec in one step, so a concurrent spawn in
// another thread can never inherit them.
int make_cloexec_pipe(int fds[2]) noexcept {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
  return ::pipe2(fds, O_CLOEXEC);
#else
  // No pipe2: the window between pipe() and FD_CLOEXEC is covered because
  // pipekit's spawn closes every descriptor it was not asked to pass.
  if (::pipe(fds) != 0) return -1;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
#endif
}
}  // namespace

pipe_pair make_pipe(const pipe_options& options, std::error_code& ec) noexcept {
  ec.clear();
  int fds[2];
  if (make_cloexec_pipe(fds) != 0) {
    ec = detail::system_error_code(errno);
    return {};
  }
  handle r{fds[0]};
  handle w{fds[1]};
  std::size_t budget = 0;
  if (options.capacity != 0) {
    std::error_code cap_ec;
    if (options.require_capacity) {
      detail::set_pipe_capacity(w.native_handle(), options.capacity, cap_ec);
      if (cap_ec) {
        ec = cap_ec;
        return {};
      }
    } else if (detail::take_pipe_budget(options.capacity)) {
      const std::size_t got = detail::set_pipe_capacity(w.native_handle(), options.capacity, cap_ec);
      // Keep the budget only for what the OS actually granted.
      budget = cap_ec ? 0 : got;
      detail::give_pipe_budget(options.capacity);
      if (budget != 0 && !detail::take_pipe_budget(budget)) budget = 0;
    }
  }
  pipe_pair p{handle_stream{std::move(r)}, handle_stream{std::move(w)}};
  detail::stream_access::set_pipe_budget(p.write_end, budget);
  if (options.nonblocking_read) p.read_end.set_nonblocking(true, ec);
  if (!ec && options.nonblocking_write) p.write_end.set_nonblocking(true, ec);
  if (ec) return {};
  return p;
}

std::size_t pipe_atomic_write_size() noexcept { return PIPE_BUF; }

std::size_t pipe_buffered_bytes(native_handle_type h, std::error_code& ec) noexcept {
  ec.clear();
  int n = 0;
  if (::ioctl(h, FIONREAD, &n) < 0) {
    ec = detail::system_error_code(errno);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace pipekit
