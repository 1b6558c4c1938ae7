// POSIX side of channels: writev/sendmsg gather writes, poll() on a reader
// and a writer at once, socketpair.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <string>

#include "pipekit/error.hpp"
#include "posix/nosignal_write.hpp"
#include "posix/syscall.hpp"
#include "sys/channel_io.hpp"
#include "sys/io.hpp"

namespace pipekit::detail {

namespace {

// Enough for 128 frames (header + payload) per call, and small enough to
// live on the stack.
constexpr std::size_t max_pieces = std::min<std::size_t>(256, IOV_MAX);

// One gather write of `pieces`, in order; retries EINTR. Never blocks:
// sockets are written with MSG_DONTWAIT, any other handle is in
// non-blocking mode (a full buffer reports operation_would_block).
std::size_t gather_write(native_handle_type h, std::span<const std::span<const std::byte>> pieces, bool is_socket,
                         std::error_code& ec) noexcept {
  struct iovec iov[max_pieces];
  const std::size_t count = std::min(pieces.size(), max_pieces);
  for (std::size_t i = 0; i < count; ++i) {
    iov[i].iov_base = const_cast<std::byte*>(pieces[i].data());
    iov[i].iov_len = pieces[i].size();
  }
  ssize_t n;
  int err = 0;
  if (is_socket) {
    struct msghdr msg {};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    // MSG_DONTWAIT: non-blocking for this call only, so the socket's own
    // mode (shared with a child that holds the other copy) never changes.
    n = posix::retry_eintr([&] {
      return count == 1 ? posix::sys_send(h, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : posix::sys_sendmsg(h, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    });
    err = errno;
  } else {
    n = writev_nosignal(h, iov, static_cast<int>(count), err);
  }
  if (n < 0) {
    ec = system_error_code(err);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

struct read_write_readiness {
  bool readable = false;  // also at end of stream or on error: the next read reports it
  bool writable = false;  // also when the peer is gone: the next write reports it
};

// Waits until `w` is writable or `r` is readable, whichever comes first.
// `r` may be invalid_native_handle (wait for `w` only) or equal to `w` (one
// duplex handle). Returns false when `until` passes first. EINTR is retried.
bool wait_read_or_write(native_handle_type r, native_handle_type w, deadline until, read_write_readiness& ready,
                        std::error_code& ec) noexcept {
  ready = {};
  struct pollfd p[2]{};
  nfds_t n = 0;
  p[n].fd = w;
  p[n].events = POLLOUT;
  if (r == w) {
    p[n].events |= POLLIN;
  } else if (r != invalid_native_handle) {
    ++n;
    p[n].fd = r;
    p[n].events = POLLIN;
  }
  ++n;
  for (;;) {
    const int k = posix::retry_eintr([&] { return posix::sys_poll(p, n, timeout_ms(until)); });
    if (k > 0) {
      for (nfds_t i = 0; i < n; ++i) {
        if (p[i].revents & POLLNVAL) {
          ec = system_error_code(EBADF);
          return false;
        }
      }
      // POLLHUP/POLLERR count as ready: the next read or write reports what
      // happened (a hang-up on the writer is a broken pipe, on the reader
      // the end of stream). A socket whose peer only half-closed reports
      // POLLIN without POLLHUP: readable, not writable.
      const short out_bits = POLLOUT | POLLERR | POLLHUP;
      const short in_bits = POLLIN | POLLERR | POLLHUP;
      ready.writable = (p[0].revents & out_bits) != 0;
      if (r == w) {
        ready.readable = (p[0].revents & in_bits) != 0;
      } else {
        ready.readable = n > 1 && (p[1].revents & in_bits) != 0;
      }
      return true;
    }
    if (k == 0) {
      if (clock::now() >= until) return false;
      continue;  // poll rounds down on some systems; go round again
    }
    ec = system_error_code(errno);
    return false;
  }
}

// Waits until `w` is writable; meanwhile lets the waiter take in what the
// peer sends (so the peer's own send can finish and it starts reading ours).
bool wait_writable(native_handle_type w, deadline until, send_waiter& waiter, std::error_code& ec) noexcept {
  for (;;) {
    deadline slice = until;
    const native_handle_type r = waiter.drain_handle(slice);
    read_write_readiness ready;
    if (!wait_read_or_write(r, w, slice, ready, ec)) {
      if (ec) return false;
      if (slice < until) continue;
      ec = make_error_code(errc::timed_out);
      return false;
    }
    if (const std::error_code stop = waiter.stop()) {
      ec = stop;
      return false;
    }
    if (ready.readable && r != invalid_native_handle) waiter.drain();
    if (ready.writable) return true;
  }
}

}  // namespace

std::size_t write_pieces(native_handle_type w, handle_kind kind, std::span<std::span<const std::byte>> pieces,
                         deadline until, send_waiter& waiter, std::error_code& ec) noexcept {
  std::size_t total = 0;
  std::size_t piece = 0;
  while (piece < pieces.size()) {
    std::size_t n = gather_write(w, pieces.subspan(piece), kind == handle_kind::socket, ec);
    if (!ec) {
      total += n;
      while (n > 0) {
        const std::size_t k = std::min(n, pieces[piece].size());
        pieces[piece] = pieces[piece].subspan(k);
        n -= k;
        if (pieces[piece].empty()) ++piece;
      }
      while (piece < pieces.size() && pieces[piece].empty()) ++piece;
      continue;
    }
    if (!would_block(ec)) break;
    ec.clear();
    if (!wait_writable(w, until, waiter, ec)) break;
  }
  return total;
}

bool writer_needs_nonblocking(handle_kind kind) noexcept { return kind != handle_kind::socket; }

bool can_half_close(handle_kind kind) noexcept { return kind == handle_kind::socket; }

std::string handle_to_text(native_handle_type h) { return std::to_string(h); }

std::string passed_handle_text(native_handle_type, int child_fd) { return std::to_string(child_fd); }

bool handle_from_text(std::string_view text, native_handle_type& h) noexcept {
  int fd = -1;
  const char* end = text.data() + text.size();
  const auto [p, err] = std::from_chars(text.data(), end, fd);
  if (err != std::errc{} || p != end || text.empty() || fd < 0) return false;
  h = fd;
  return true;
}

void make_duplex_pair(handle& a, handle& b, std::error_code& ec) noexcept {
  int fds[2];
#if defined(SOCK_CLOEXEC)
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    ec = system_error_code(errno);
    return;
  }
#else
  // No SOCK_CLOEXEC: the window before FD_CLOEXEC is covered because
  // pipekit's spawn closes every descriptor it was not asked to pass.
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    ec = system_error_code(errno);
    return;
  }
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
  a = handle{fds[0]};
  b = handle{fds[1]};
}

void shutdown_socket(native_handle_type h, bool reading, bool writing, std::error_code& ec) noexcept {
  const int how = reading && writing ? SHUT_RDWR : reading ? SHUT_RD : SHUT_WR;
  if (::shutdown(h, how) != 0) ec = system_error_code(errno);
}

handle_access adopt_inherited_handle(native_handle_type h, std::error_code& ec) noexcept {
  if (h < 0) {
    ec = system_error_code(EBADF);
    return handle_access::read_write;
  }
  const int fd_flags = ::fcntl(h, F_GETFD);
  const int status = fd_flags < 0 ? -1 : ::fcntl(h, F_GETFL);
  if (fd_flags < 0 || status < 0) {
    ec = system_error_code(errno);
    return handle_access::read_write;
  }
  if (!(fd_flags & FD_CLOEXEC) && ::fcntl(h, F_SETFD, fd_flags | FD_CLOEXEC) < 0) ec = system_error_code(errno);
  switch (status & O_ACCMODE) {
    case O_RDONLY: return handle_access::read;
    case O_WRONLY: return handle_access::write;
    default: return handle_access::read_write;
  }
}

}  // namespace pipekit::detail
