#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>

#include "pipekit/error.hpp"
#include "posix/nosignal_write.hpp"
#include "posix/syscall.hpp"
#include "sys/io.hpp"

namespace pipekit::detail {

std::size_t read_handle(native_handle_type h, handle_kind, std::span<std::byte> buf, std::error_code& ec) noexcept {
  const ssize_t n = posix::retry_eintr([&] { return posix::sys_read(h, buf.data(), buf.size()); });
  if (n >= 0) return static_cast<std::size_t>(n);
  ec = system_error_code(errno);
  return 0;
}

namespace {

// Never raises SIGPIPE and never changes its disposition (see
// posix/nosignal_write.hpp); sockets avoid it with MSG_NOSIGNAL.
std::size_t write_guarded(int fd, std::span<const std::byte> data, std::error_code& ec) noexcept {
  struct iovec one {
    const_cast<std::byte*>(data.data()), data.size()
  };
  int err = 0;
  const ssize_t n = writev_nosignal(fd, &one, 1, err);
  if (n < 0) {
    ec = system_error_code(err);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace

std::size_t write_handle(native_handle_type h, handle_kind kind, std::span<const std::byte> data,
                         std::error_code& ec) noexcept {
  if (kind == handle_kind::socket) {
    const ssize_t n = posix::retry_eintr([&] { return posix::sys_send(h, data.data(), data.size(), MSG_NOSIGNAL); });
    if (n >= 0) return static_cast<std::size_t>(n);
    ec = system_error_code(errno);
    return 0;
  }
  return write_guarded(h, data, ec);
}

// POSIX says when a handle is readable or writable (poll), and a blocking
// write to a writable pipe of up to PIPE_BUF bytes does not block: the
// stream waits for readiness first instead of cancelling operations.
bool read_handle_until(native_handle_type, handle_kind, std::span<std::byte>, deadline, std::size_t&,
                       std::error_code&) noexcept {
  return false;
}
bool write_handle_until(native_handle_type, handle_kind, std::span<const std::byte>, deadline, std::size_t&,
                        std::error_code&) noexcept {
  return false;
}

bool wait_handle(native_handle_type h, events what, deadline until, std::error_code& ec) noexcept {
  struct pollfd p {};
  p.fd = h;
  // Either, when both are asked for: wait() returns when one of them is ready.
  p.events =
      static_cast<short>((any(what & events::readable) ? POLLIN : 0) | (any(what & events::writable) ? POLLOUT : 0));
  for (;;) {
    const int r = posix::retry_eintr([&] { return posix::sys_poll(&p, 1, timeout_ms(until)); });
    if (r > 0) {
      if (p.revents & POLLNVAL) {
        ec = system_error_code(EBADF);
        return false;
      }
      // POLLHUP/POLLERR count as ready: the next read or write reports what happened.
      return true;
    }
    if (r == 0) {
      if (clock::now() >= until) return false;
      continue;  // poll rounds down on some systems; go round again
    }
    ec = system_error_code(errno);
    return false;
  }
}

handle_kind classify_handle(native_handle_type h) noexcept {
  struct stat st {};
  if (::fstat(h, &st) != 0) return handle_kind::other;
  if (S_ISSOCK(st.st_mode)) return handle_kind::socket;
  if (S_ISFIFO(st.st_mode)) return handle_kind::pipe;
  return handle_kind::other;
}

bool handle_is_nonblocking(native_handle_type h) noexcept {
  const int flags = ::fcntl(h, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

std::size_t blocking_write_limit() noexcept { return PIPE_BUF; }

void set_handle_nonblocking(native_handle_type h, bool on, std::error_code& ec) noexcept {
  const int flags = ::fcntl(h, F_GETFL);
  if (flags < 0) {
    ec = system_error_code(errno);
    return;
  }
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(h, F_SETFL, wanted) < 0) ec = system_error_code(errno);
}

}  // namespace pipekit::detail
