// Local servers: a named endpoint that several clients of the same machine
// use at once, with one API on POSIX and Windows.
//
//   POSIX:   `name` is a filesystem path; a Unix domain socket of type
//            SOCK_STREAM (local_mode::bytes) or SOCK_SEQPACKET
//            (local_mode::messages).
//   Windows: `name` is a named pipe, "\\.\pipe\NAME" or just "NAME" (the
//            prefix is added); byte-mode or message-mode pipe instances.
//
//   auto server = pipekit::local_server::listen("/tmp/app.sock", {.mode = pipekit::local_mode::messages});
//   // another thread or process:
//   auto c = pipekit::connect_local("/tmp/app.sock", pipekit::local_mode::messages, pipekit::after(5s));
//   c.send("hello");
//   // server side:
//   pipekit::local_connection s = server.accept(pipekit::after(5s));
//   std::optional<std::string> msg = s.recv();   // "hello"; nullopt at end of stream
//   pipekit::peer_credentials who = s.peer();                // pid (and uid on POSIX) of the client
//
// Errors (every blocking call has a throwing form and a std::error_code&
// noexcept form):
// - A deadline that passes: errc::timed_out (== std::errc::timed_out).
// - listen(): POSIX refuses to replace anything at `name` that is not a
//   socket (std::errc::file_exists) and a socket that still has a listener
//   (std::errc::address_in_use); a stale socket with no listener is replaced.
//   A path too long for sockaddr_un: std::errc::filename_too_long.
// - connect_local() with a deadline waits for the server to appear (no socket
//   file or pipe yet, no listener, or every instance busy) until the
//   deadline, then reports timed_out. With no_deadline it fails at once with
//   std::errc::no_such_file_or_directory (nothing at `name`) or
//   std::errc::connection_refused (POSIX: a socket file without listener);
//   a server whose queue is full is still waited for.
// - A message mode read into a buffer smaller than the message: on Windows
//   read_some() returns the first part and the rest stays readable; on POSIX
//   (SOCK_SEQPACKET would cut the message) read_some() reports
//   errc::message_too_large and leaves the message queued. recv()
//   always returns the whole message on both.
//
// Thread-safety: as stream (one reader and one writer thread per
// connection). accept() may be called from one thread at a time; connections
// it returns are independent of the server and of each other.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/handle.hpp"
#include "pipekit/stream.hpp"

namespace pipekit {

namespace detail {
struct local_access;
}

enum class local_mode { bytes, messages };

struct listen_options {
  local_mode mode = local_mode::bytes;
  // POSIX: the socket file's mode, set before the file becomes visible at
  // `name`, so there is no moment where it is more open. Ignored on Windows,
  // where the pipe's security grants access to the current user only.
  unsigned permissions = 0600;
  // Windows: remote clients are rejected (PIPE_REJECT_REMOTE_CLIENTS) unless
  // true. Unix domain sockets are local by nature.
  bool allow_remote = false;
  // POSIX: listen() backlog. Windows keeps one instance waiting for the next
  // client at all times; more clients wait (WaitNamedPipe) until accept().
  int backlog = 64;
};

// Who is at the other end, where the system tells it. Linux gives both
// (SO_PEERCRED, as of connect()/listen()); Windows gives the pid only
// (GetNamedPipeClientProcessId / GetNamedPipeServerProcessId).
struct peer_credentials {
  std::optional<std::int64_t> pid;
  std::optional<std::uint32_t> uid;
};

// One duplex connection to a local server, or accepted by one. It owns its
// handle. In local_mode::messages, read_some() returns at most one message,
// and write_some() sends its whole argument as one message (never split:
// with a deadline, a large message may still block after the connection
// became writable; send() with a deadline does not).
// A zero-length message reads as 0 through read_some(), like the end of
// stream: use recv() to tell them apart.
class PIPEKIT_EXPORT local_connection final : public stream {
 public:
  local_connection() noexcept = default;
  local_connection(local_connection&& other) noexcept;
  local_connection& operator=(local_connection&& other) noexcept;
  ~local_connection() override = default;

  [[nodiscard]] bool is_open() const noexcept { return h_.is_open(); }
  [[nodiscard]] local_mode mode() const noexcept { return mode_; }
  [[nodiscard]] native_handle_type native_handle() const noexcept override { return h_.native_handle(); }
  [[nodiscard]] handle release_handle() noexcept { return std::move(h_); }
  // native_handle, and gather_write in local_mode::bytes (a message-mode
  // write is one message: gathering would change where messages end).
  [[nodiscard]] stream_caps capabilities() const noexcept override;

  // Message mode only (errc::not_supported in byte mode); the same calls
  // as channel's. recv() receives the next whole message, however large,
  // into `out` (true), or reports a clean end of stream (false, no error) or
  // an error (false, `ec` set; timed_out loses nothing). The optional forms
  // return the message: nullopt at the end, or with `ec` set on error. The
  // forms without `ec` throw std::system_error.
  [[nodiscard]] bool recv(std::string& out, deadline until = no_deadline);
  [[nodiscard]] bool recv(std::string& out, deadline until, std::error_code& ec) noexcept;
  [[nodiscard]] std::optional<std::string> recv(deadline until = no_deadline);
  [[nodiscard]] std::optional<std::string> recv(deadline until, std::error_code& ec) noexcept;

  // Message mode only: sends `message` as one message (0 bytes allowed), or
  // nothing of it. std::errc::broken_pipe if the peer is gone;
  // std::errc::message_size if the system cannot carry one that large.
  void send(std::span<const std::byte> message, deadline until = no_deadline);
  void send(std::span<const std::byte> message, deadline until, std::error_code& ec) noexcept;
  void send(std::string_view message, deadline until = no_deadline) { send(std::as_bytes(std::span(message)), until); }
  void send(std::string_view message, deadline until, std::error_code& ec) noexcept {
    send(std::as_bytes(std::span(message)), until, ec);
  }

  // The peer's process id and user id where the system gives them.
  [[nodiscard]] peer_credentials peer() const;
  [[nodiscard]] peer_credentials peer(std::error_code& ec) const noexcept;

 protected:
  std::size_t do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept override;
  std::size_t do_write_some(std::span<const std::byte> data, std::error_code& ec) noexcept override;
  bool do_wait(events what, deadline until, std::error_code& ec) noexcept override;
  void do_close(std::error_code& ec) noexcept override;
  [[nodiscard]] std::size_t nonblocking_write_limit() const noexcept override;
  [[nodiscard]] bool blocking_io() const noexcept override { return true; }

 private:
  handle h_;
  local_mode mode_ = local_mode::bytes;
  bool server_end_ = false;  // Windows asks a different call for the peer's pid
  friend struct detail::local_access;
};

// A listening endpoint. Move-only; closing it (or destroying it) stops
// accepting; connections already accepted stay open. On POSIX it removes the
// socket file it created, if that file is still the one it created.
class PIPEKIT_EXPORT local_server {
 public:
  local_server() noexcept;
  local_server(local_server&& other) noexcept;
  local_server& operator=(local_server&& other) noexcept;
  ~local_server();

  [[nodiscard]] static local_server listen(const std::string& name, const listen_options& options = {});
  [[nodiscard]] static local_server listen(const std::string& name, const listen_options& options,
                                           std::error_code& ec) noexcept;

  // The next client; errc::timed_out when `until` passes first (the server
  // stays usable). no_deadline waits as long as it takes.
  [[nodiscard]] local_connection accept(deadline until = no_deadline);
  [[nodiscard]] local_connection accept(deadline until, std::error_code& ec) noexcept;

  [[nodiscard]] bool is_open() const noexcept;
  [[nodiscard]] local_mode mode() const noexcept;
  // What a poller waits on for the next client. POSIX: the listening socket
  // (readable when a client waits). Windows: the event of the pending
  // ConnectNamedPipe (signalled when a client connected).
  [[nodiscard]] native_handle_type native_handle() const noexcept;

  void close() noexcept;

  struct impl;  // per platform

 private:
  explicit local_server(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> impl_;
  friend struct detail::local_access;
};

// Connects to the local server `name` (see the top of this file for how the
// deadline treats a server that is not there yet).
[[nodiscard]] PIPEKIT_EXPORT local_connection connect_local(const std::string& name,
                                                            local_mode mode = local_mode::bytes,
                                                            deadline until = no_deadline);
[[nodiscard]] PIPEKIT_EXPORT local_connection connect_local(const std::string& name, local_mode mode, deadline until,
                                                            std::error_code& ec) noexcept;

}  // namespace pipekit
