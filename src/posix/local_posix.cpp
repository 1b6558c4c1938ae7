// Local servers on POSIX: Unix domain sockets, SOCK_STREAM for bytes and
// SOCK_SEQPACKET for messages.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>

#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "posix/local_server_impl.hpp"
#include "posix/syscall.hpp"
#include "sys/io.hpp"
#include "sys/local.hpp"

namespace pipekit {

namespace detail {
namespace {

std::error_code errno_code() noexcept { return system_error_code(errno); }

int socket_type(local_mode mode) noexcept { return mode == local_mode::messages ? SOCK_SEQPACKET : SOCK_STREAM; }

bool make_address(const std::string& path, sockaddr_un& addr, std::error_code& ec) noexcept {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty()) {
    ec = make_error_code(errc::invalid_argument);
    return false;
  }
  if (path.size() >= sizeof(addr.sun_path)) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

handle new_socket(local_mode mode, std::error_code& ec) noexcept {
  const int fd = ::socket(AF_UNIX, socket_type(mode) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) ec = errno_code();
  return handle{fd};
}

// Message sockets receive the sender's credentials with every message: that
// control message is how recv() tells a zero-length message
// (credentials attached) from the end of stream (nothing attached).
void prepare_connection(native_handle_type fd, local_mode mode) noexcept {
#ifdef SO_PASSCRED
  if (mode == local_mode::messages) {
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  }
#else
  (void)fd;
  (void)mode;
#endif
}

// Connects a non-blocking socket; returns 0 or the errno.
int connect_once(native_handle_type fd, const sockaddr_un& addr, deadline until) noexcept {
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return 0;
  int err = errno;
  if (err != EINPROGRESS && err != EINTR) return err;
  // Linux completes Unix-socket connects at once; other systems may not.
  std::error_code ec;
  if (!wait_handle(fd, events::writable, until, ec)) return ec ? ec.value() : ETIMEDOUT;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

// Is a server listening on the socket file at `addr`?
bool has_listener(const sockaddr_un& addr, local_mode mode) noexcept {
  std::error_code ec;
  handle probe = new_socket(mode, ec);
  if (ec) return true;  // cannot tell: do not remove it
  const int err = connect_once(probe.native_handle(), addr, clock::now());
  // ECONNREFUSED: a socket file nobody listens on. ENOENT: it just went.
  return !(err == ECONNREFUSED || err == ENOENT);
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::size_t local_read(native_handle_type h, local_mode mode, std::span<std::byte> buf, std::error_code& ec) noexcept {
  if (mode == local_mode::bytes) return read_handle(h, handle_kind::socket, buf, ec);
  // SOCK_SEQPACKET drops what does not fit: look at the size first, and leave
  // a message that does not fit queued for recv().
  for (;;) {
    const ssize_t n =
        posix::retry_eintr([&] { return posix::sys_recv(h, buf.data(), buf.size(), MSG_PEEK | MSG_TRUNC); });
    if (n < 0) {
      ec = errno_code();
      return 0;
    }
    if (static_cast<std::size_t>(n) > buf.size()) {
      ec = make_error_code(errc::message_too_large);
      return 0;
    }
    // The message is already in `buf`: dequeue it without copying it again.
    (void)posix::retry_eintr([&] { return ::recv(h, nullptr, 0, MSG_DONTWAIT | MSG_TRUNC); });
    return static_cast<std::size_t>(n);
  }
}

std::size_t local_write(native_handle_type h, local_mode, std::span<const std::byte> data,
                        std::error_code& ec) noexcept {
  // send(MSG_NOSIGNAL): a message goes out whole on SOCK_SEQPACKET.
  return write_handle(h, handle_kind::socket, data, ec);
}

std::size_t local_write_limit(local_mode mode) noexcept {
  return mode == local_mode::messages ? static_cast<std::size_t>(-1) : blocking_write_limit();
}

std::optional<std::string> local_receive_message(native_handle_type h, deadline until, std::error_code& ec) noexcept {
  for (;;) {
    if (until != no_deadline && !wait_handle(h, events::readable, until, ec)) {
      if (!ec) ec = make_error_code(errc::timed_out);
      return std::nullopt;
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n =
        ::recvmsg(h, &msg, MSG_PEEK | MSG_TRUNC | MSG_CMSG_CLOEXEC | (until != no_deadline ? MSG_DONTWAIT : 0));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      ec = errno_code();
      return std::nullopt;
    }
    // A peek installs any descriptors the peer attached (SCM_RIGHTS) each
    // time: close them, or a peer could make us leak descriptors.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        ::close(fd);
      }
    }
    if (n == 0) {
#ifdef SCM_CREDENTIALS
      bool has_message = false;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) has_message = true;
      if (!has_message) return std::nullopt;  // end of stream
#else
      return std::nullopt;
#endif
    }
    try {
      std::string out(static_cast<std::size_t>(n), '\0');
      const ssize_t got = posix::retry_eintr([&] { return posix::sys_recv(h, out.data(), out.size(), MSG_DONTWAIT); });
      if (got < 0) {
        ec = errno_code();
        return std::nullopt;
      }
      out.resize(static_cast<std::size_t>(got));
      return out;
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return std::nullopt;
    }
  }
}

void local_send_message(native_handle_type h, std::span<const std::byte> data, deadline until,
                        std::error_code& ec) noexcept {
  // With a deadline the send must not block inside the kernel: MSG_DONTWAIT,
  // and wait for room between tries (the message goes whole or not at all).
  const int flags = MSG_NOSIGNAL | (until != no_deadline ? MSG_DONTWAIT : 0);
  for (;;) {
    const ssize_t n = posix::retry_eintr([&] { return posix::sys_send(h, data.data(), data.size(), flags); });
    if (n >= 0) return;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = errno_code();
      return;
    }
    if (!wait_handle(h, events::writable, until, ec)) {
      if (!ec) ec = make_error_code(errc::timed_out);
      return;
    }
  }
}

peer_credentials local_peer(native_handle_type h, bool, std::error_code& ec) noexcept {
  peer_credentials p;
#ifdef SO_PEERCRED
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(h, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ec = errno_code();
    return p;
  }
  p.pid = cred.pid;
  p.uid = cred.uid;
#else
  uid_t uid = 0;
  gid_t gid = 0;
  if (::getpeereid(h, &uid, &gid) != 0) {
    ec = errno_code();
    return p;
  }
  p.uid = uid;
#endif
  return p;
}

}  // namespace detail

local_server local_server::listen(const std::string& name, const listen_options& options, std::error_code& ec) noexcept
    try {
  ec.clear();
  sockaddr_un addr{};
  if (!detail::make_address(name, addr, ec)) return {};
  struct stat st {};
  if (::lstat(name.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      ec = std::make_error_code(std::errc::file_exists);  // never replace a file that is not a socket
      return {};
    }
    if (detail::has_listener(addr, options.mode)) {
      ec = std::make_error_code(std::errc::address_in_use);
      return {};
    }
    if (::unlink(name.c_str()) != 0 && errno != ENOENT) {
      ec = detail::errno_code();
      return {};
    }
  } else if (errno != ENOENT) {
    ec = detail::errno_code();
    return {};
  }

  // The socket is bound inside a fresh 0700 directory next to `name`, given
  // its mode there, and only then linked at `name`: no umask games (the umask
  // is process-wide) and no moment where the file is more open than asked.
  // link() also refuses to replace whatever appeared at `name` meanwhile.
  std::string dir = detail::parent_directory(name) + "/.pipekit-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    ec = detail::errno_code();
    return {};
  }
  const std::string temp = dir + "/s";
  struct cleanup {
    const std::string& dir;
    const std::string& temp;
    ~cleanup() {
      ::unlink(temp.c_str());
      ::rmdir(dir.c_str());
    }
  } remove_temp{dir, temp};
  // The temporary path is longer than `name`; when it does not fit in
  // sun_path, the same file is bound through the directory's descriptor
  // (/proc/self/fd/N/s on Linux), a path whose length does not depend on
  // where the directory is. So every path the OS accepts for `name` works.
  sockaddr_un temp_addr{};
  handle dir_fd;
  if (!detail::make_address(temp, temp_addr, ec)) {
    dir_fd = handle{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    std::error_code short_ec;
    if (!dir_fd || ::access(("/proc/self/fd/" + std::to_string(dir_fd.native_handle())).c_str(), F_OK) != 0 ||
        !detail::make_address("/proc/self/fd/" + std::to_string(dir_fd.native_handle()) + "/s", temp_addr, short_ec))
      return {};  // ec: filename_too_long
    ec.clear();
  }

  auto p = std::make_unique<impl>();
  p->mode = options.mode;
  p->fd = detail::new_socket(options.mode, ec);
  if (ec) return {};
  if (::bind(p->fd.native_handle(), reinterpret_cast<const sockaddr*>(&temp_addr), sizeof temp_addr) != 0 ||
      ::chmod(temp.c_str(), static_cast<mode_t>(options.permissions & 07777)) != 0 ||
      ::listen(p->fd.native_handle(), options.backlog) != 0) {
    ec = detail::errno_code();
    return {};
  }
  if (::link(temp.c_str(), name.c_str()) != 0) {
    ec = detail::errno_code();
    return {};
  }
  if (::lstat(name.c_str(), &st) == 0) {
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    p->path = name;
  }
  return local_server{std::move(p)};
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

local_connection local_server::accept(deadline until, std::error_code& ec) noexcept {
  ec.clear();
  if (!impl_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return {};
  }
  for (;;) {
    // The listening socket is non-blocking, so a client that gave up between
    // poll() and accept() cannot leave us blocked.
    const int fd = ::accept4(impl_->fd.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      handle h{fd};
#ifndef __linux__
      detail::set_handle_nonblocking(fd, false, ec);  // elsewhere accept() inherits O_NONBLOCK
      if (ec) return {};
#endif
      detail::prepare_connection(fd, impl_->mode);
      return detail::local_access::make_connection(std::move(h), impl_->mode, true);
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) {
      ec = detail::system_error_code(err);
      return {};
    }
    if (!detail::wait_handle(impl_->fd.native_handle(), events::readable, until, ec)) {
      if (!ec) ec = make_error_code(errc::timed_out);
      return {};
    }
  }
}

local_connection connect_local(const std::string& name, local_mode mode, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  sockaddr_un addr{};
  if (!detail::make_address(name, addr, ec)) return {};
  for (;;) {
    handle fd = detail::new_socket(mode, ec);
    if (ec) return {};
    const int err = detail::connect_once(fd.native_handle(), addr, until);
    if (err == 0) {
      detail::set_handle_nonblocking(fd.native_handle(), false, ec);
      if (ec) return {};
      detail::prepare_connection(fd.native_handle(), mode);
      return detail::local_access::make_connection(std::move(fd), mode, false);
    }
    // EAGAIN: the server's queue is full; it is there, so wait for it. No
    // socket file or no listener: wait for one only when given a deadline.
    const bool retry = err == EAGAIN || ((err == ENOENT || err == ECONNREFUSED) && until != no_deadline);
    if (!retry) {
      ec = err == ETIMEDOUT ? make_error_code(errc::timed_out) : detail::system_error_code(err);
      return {};
    }
    const auto now = clock::now();
    if (now >= until) {
      ec = make_error_code(errc::timed_out);
      return {};
    }
    std::this_thread::sleep_for(std::min<clock::duration>(std::chrono::milliseconds(10), until - now));
  }
}

}  // namespace pipekit
