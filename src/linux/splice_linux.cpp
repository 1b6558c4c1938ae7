// splice(2) and tee(2) between two pipes: the pages move (splice) or are
// shared (tee) from one pipe buffer to the other, so a relay that counts
// bytes (a metered pipeline edge) or copies them to several readers (a
// fan-out) costs no copy. Neither has a "no SIGPIPE" flag: the POSIX guard
// wraps them.
#include <fcntl.h>
#include <poll.h>

#include <cerrno>

#include "pipekit/error.hpp"
#include "posix/nosignal_write.hpp"
#include "sys/io.hpp"
#include "sys/splice.hpp"

namespace pipekit::detail {

namespace {

struct pipe_call {
  int from;
  int to;
  std::size_t max;
};

ssize_t splice_once(void* ctx) {
  const pipe_call& c = *static_cast<pipe_call*>(ctx);
  return ::splice(c.from, nullptr, c.to, nullptr, c.max, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

ssize_t tee_once(void* ctx) {
  const pipe_call& c = *static_cast<pipe_call*>(ctx);
  return ::tee(c.from, c.to, c.max, SPLICE_F_NONBLOCK);
}

// One non-blocking call at a time, waiting between them for the side that
// is not ready: shared by splice and tee, which differ only in whether
// `from` is consumed.
bool between_pipes(ssize_t (*once)(void*), native_handle_type from, native_handle_type to, std::size_t max,
                   deadline until, std::size_t& moved, std::error_code& ec) noexcept {
  moved = 0;
  ec.clear();
  pipe_call call{from, to, max};
  for (bool first = true;; first = false) {
    int err = 0;
    const ssize_t n = call_with_sigpipe_blocked(once, &call, err);
    if (n >= 0) {
      moved = static_cast<std::size_t>(n);  // 0: no writer left and nothing buffered
      return true;
    }
    if (first && (err == EINVAL || err == ENOSYS)) return false;  // not two pipes: the caller copies
    if (err != EAGAIN) {
      ec = err == EPIPE ? std::make_error_code(std::errc::broken_pipe) : system_error_code(err);
      return true;
    }
    // Found `from` empty or `to` full: wait for the side that is not ready
    // (both when neither is), never for one that is, so the wait cannot spin.
    struct pollfd now[2] = {{from, POLLIN, 0}, {to, POLLOUT, 0}};
    if (::poll(now, 2, 0) < 0 && errno != EINTR) {
      ec = system_error_code(errno);
      return true;
    }
    struct pollfd wait_for[2];
    nfds_t count = 0;
    if (now[0].revents == 0) wait_for[count++] = now[0];
    if (now[1].revents == 0) wait_for[count++] = now[1];
    if (count == 0) continue;  // both became ready meanwhile
    const int r = ::poll(wait_for, count, timeout_ms(until));
    if (r == 0) {
      ec = make_error_code(errc::timed_out);
      return true;
    }
    if (r < 0 && errno != EINTR) {
      ec = system_error_code(errno);
      return true;
    }
  }
}

}  // namespace

bool splice_pipes(native_handle_type from, native_handle_type to, std::size_t max, deadline until, std::size_t& moved,
                  std::error_code& ec) noexcept {
  return between_pipes(splice_once, from, to, max, until, moved, ec);
}

bool tee_pipes(native_handle_type from, native_handle_type to, std::size_t max, deadline until, std::size_t& moved,
               std::error_code& ec) noexcept {
  return between_pipes(tee_once, from, to, max, until, moved, ec);
}

bool discard_pipe(native_handle_type from, std::size_t max, deadline until, std::size_t& moved,
                  std::error_code& ec) noexcept {
  // Opened once for the whole process and never closed: every discarding
  // thread shares it, and /dev/null keeps no state between writes.
  static const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null_fd < 0) {
    moved = 0;
    return false;
  }
  return between_pipes(splice_once, from, null_fd, max, until, moved, ec);
}

}  // namespace pipekit::detail
