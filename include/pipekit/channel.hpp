// channel: whole messages over any byte stream — an anonymous pipe pair, a
// FIFO pair, a socketpair, a local connection, a child's stdin/stdout —
// wire-compatible with Python's multiprocessing.connection (send_bytes /
// recv_bytes). docs/channels.md explains the wire format, the allocation
// bounds, why two-way traffic cannot deadlock, the use in an event loop and
// how to hand an end to a child.
//
//   auto [a, b] = pipekit::channel_pair();          // like multiprocessing.Pipe()
//   a.send("hello");
//   std::string msg;
//   bool got = b.recv(msg);                          // true, msg == "hello"
//   a.close_send();
//   got = b.recv(msg);                               // false: clean end of stream
//
// Every blocking call has two forms: one throws std::system_error, the other
// takes std::error_code& and is noexcept. The codes any call may report:
// - errc::timed_out (== std::errc::timed_out): the deadline passed;
// - std::errc::broken_pipe: the peer closed its receiving end (pipekit never
//   lets SIGPIPE kill the process and never changes its disposition);
// - std::errc::bad_file_descriptor: a closed or moved-from channel;
// - errc::not_supported: sending on a receive-only end, or the reverse;
// - errc::protocol_error, errc::message_too_large: what the peer sent is not
//   a valid stream of frames (see recv()); the channel is then closed and
//   every later call reports the same error;
// - std::errc::not_enough_memory.
//
// Thread-safety: sends are serialised by the channel and so are receives, so
// any number of threads may call send()/send_batch()/post() and recv() at
// once; each message goes out whole (frames never interleave) and each
// recv() returns one whole message; a sender and a receiver proceed
// concurrently. close_send() waits for a send in progress. close(), the move
// operations and the destructor must not run concurrently with any other
// call. With several receiving threads, a recv() deadline does not cover the
// wait for another thread's recv() to finish (likewise for sends).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/native_handle.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/stream.hpp"

namespace pipekit {

// The largest message a channel accepts by default (64 MiB).
inline constexpr std::size_t default_max_message_size = std::size_t{64} << 20;

// The environment variable from_environment() reads by default.
inline constexpr const char* channel_fd_variable = "PIPEKIT_CHANNEL_FD";

class command;

struct channel_options {
  // A peer announcing a larger message gets errc::message_too_large.
  std::size_t max_message_size = default_max_message_size;
  // The most bytes the channel reads ahead of recv(): what a send() blocked
  // by a full OS buffer may take in from the peer (see "How two-way traffic
  // cannot deadlock"). The default holds two messages of the default maximum
  // size. The memory is allocated as bytes arrive and given back once recv()
  // has consumed them.
  std::size_t max_buffered_incoming = 2 * default_max_message_size;
  // The most bytes post() keeps queued for a writer that is not taking them;
  // past it post() refuses a message (operation_would_block, nothing queued).
  std::size_t max_queued_outgoing = 2 * default_max_message_size;
};

namespace detail {
class channel_core;
}

class PIPEKIT_EXPORT channel {
 public:
  // A closed channel.
  channel() noexcept;
  // One stream carries both directions (a socket, a tty). May be null.
  explicit channel(std::unique_ptr<stream> duplex, const channel_options& options = {});
  // Messages arrive on `reader` and leave through `writer`. Either may be
  // null: a receive-only or send-only channel.
  channel(std::unique_ptr<stream> reader, std::unique_ptr<stream> writer, const channel_options& options = {});
  // The same over OS handles (a socket; a pipe pair; a child's stdout + stdin).
  explicit channel(handle_stream duplex, const channel_options& options = {});
  channel(handle_stream reader, handle_stream writer, const channel_options& options = {});

  channel(channel&& other) noexcept;
  channel& operator=(channel&& other) noexcept;
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel();

  // The child's side: a channel over descriptor `fd` it inherited (and now
  // owns). The descriptor is checked (std::errc::bad_file_descriptor if it is
  // not open) and made close-on-exec, so it does not leak into grandchildren.
  // A socket (or anything opened for reading and writing) gives a duplex
  // channel; a pipe's read end a receive-only one, its write end a send-only
  // one.
  [[nodiscard]] static channel from_inherited_fd(native_handle_type fd, const channel_options& options = {});
  [[nodiscard]] static channel from_inherited_fd(native_handle_type fd, const channel_options& options,
                                                 std::error_code& ec) noexcept;
  // The same with the descriptor number read from an environment variable;
  // errc::invalid_argument when it is missing or not a number.
  [[nodiscard]] static channel from_environment(const char* variable = channel_fd_variable,
                                                const channel_options& options = {});
  [[nodiscard]] static channel from_environment(const char* variable, const channel_options& options,
                                                std::error_code& ec) noexcept;

  // Sends one message: header and payload in one system call when the
  // writer is an OS handle. Returns once the whole frame is in the OS buffer;
  // while it waits for room it takes in the peer's data (no deadlock when
  // both ends send first). timed_out before the first byte of the frame went
  // out leaves the channel intact; timed_out part-way through the frame
  // breaks the send direction (the rest can never be sent in order): later
  // sends report errc::protocol_error.
  void send(std::span<const std::byte> message);
  void send(std::string_view message);
  void send(std::span<const std::byte> message, deadline until);
  void send(std::string_view message, deadline until);
  void send(std::span<const std::byte> message, deadline until, std::error_code& ec) noexcept;
  void send(std::string_view message, deadline until, std::error_code& ec) noexcept;

  // Sends many messages with as few system calls as possible (one gather
  // write of up to 512 frames). Returns how many messages went out whole;
  // on error the ones after that were not sent (if the error cut a frame,
  // the send direction is broken, as for send()).
  std::size_t send_batch(std::span<const std::span<const std::byte>> messages);
  std::size_t send_batch(std::span<const std::string_view> messages);
  std::size_t send_batch(std::span<const std::span<const std::byte>> messages, deadline until,
                         std::error_code& ec) noexcept;
  std::size_t send_batch(std::span<const std::string_view> messages, deadline until, std::error_code& ec) noexcept;

  // Queues one message and writes as much of it as the writer takes now;
  // never waits. The rest goes out with flush(), or with the next send(),
  // send_batch() or post() (frames keep their order). Refused with
  // operation_would_block, nothing queued, when the queue would pass
  // options().max_queued_outgoing; other errors as for send().
  void post(std::span<const std::byte> message);
  void post(std::string_view message);
  void post(std::span<const std::byte> message, std::error_code& ec) noexcept;
  void post(std::string_view message, std::error_code& ec) noexcept;
  // Writes the outgoing queue until it is empty (true) or `until` passes
  // (false, ec = timed_out; what was written is gone from the queue). Like
  // a blocked send(), it takes in the peer's data while it waits.
  bool flush(deadline until = no_deadline);
  bool flush(deadline until, std::error_code& ec) noexcept;
  // Bytes post() queued that the writer has not taken yet.
  [[nodiscard]] std::size_t pending_outgoing() const noexcept;

  // Receives one message into `out` (its previous content is replaced).
  // Returns false at a clean end of stream between messages (no error), and
  // on error (then ec is set and `out` holds nothing useful):
  // errc::protocol_error for a frame cut off by the end of stream or a
  // negative length other than -1; errc::message_too_large for a peer
  // announcing more than max_message_size (nothing of that size is
  // allocated); timed_out loses nothing: what arrived of a message is kept
  // and the next recv() continues it.
  [[nodiscard]] bool recv(std::string& out);
  [[nodiscard]] bool recv(std::string& out, deadline until);
  [[nodiscard]] bool recv(std::string& out, deadline until, std::error_code& ec) noexcept;
  // The same returning the message: nullopt at a clean end of stream, and
  // nullopt with `ec` set on error; the forms without `ec` throw.
  [[nodiscard]] std::optional<std::string> recv();
  [[nodiscard]] std::optional<std::string> recv(deadline until);
  [[nodiscard]] std::optional<std::string> recv(deadline until, std::error_code& ec) noexcept;

  // Half-close: the peer's recv() returns false once it has read what was
  // sent; this end can still receive. A socket is shut down for writing;
  // a separate writer is closed.
  void close_send();
  void close_send(std::error_code& ec) noexcept;

  // Closes both directions and releases the handles. Messages still in the
  // outgoing queue are dropped, and the error_code form reports that with
  // std::errc::operation_canceled (flush() first to deliver them).
  void close();
  void close(std::error_code& ec) noexcept;

  [[nodiscard]] bool is_open() const noexcept;
  [[nodiscard]] bool can_send() const noexcept;
  [[nodiscard]] bool can_recv() const noexcept;

  // The underlying streams (null when the channel has no such direction).
  // For a duplex channel both are the same stream. Reading or writing them
  // directly breaks the framing; they are here for waiting and inspection.
  [[nodiscard]] stream* reader() noexcept;
  [[nodiscard]] stream* writer() noexcept;
  // What to give a poller (poller::add(*ch.event_source(), interest, token)):
  // readable when recv(out, pipekit::clock::now(), ec) returns a message,
  // the end or an error at once, including a message a blocked send() took
  // into the receive buffer (its read handle cannot say that); writable
  // when the write handle is. Valid while the channel lives (moving the
  // channel keeps it); remove() it before destroying the channel. nullptr
  // for an empty channel.
  [[nodiscard]] poll_source* event_source() noexcept;
  // The handles themselves: readable means recv() can make progress, but a
  // message already in the receive buffer is not reported (see
  // buffered_incoming(); event_source() reports it).
  [[nodiscard]] native_handle_type read_handle() const noexcept;
  [[nodiscard]] native_handle_type write_handle() const noexcept;
  // The one handle of a duplex or one-way channel, to hand to a child with
  // command::pass_handle(); invalid_native_handle when the channel has two
  // different handles (pass read_handle() and write_handle() then).
  [[nodiscard]] native_handle_type native_handle() const noexcept;

  // Bytes received from the OS that recv() has not returned yet.
  [[nodiscard]] std::size_t buffered_incoming() const noexcept;
  [[nodiscard]] const channel_options& options() const noexcept;

 private:
  std::unique_ptr<detail::channel_core> core_;
};

// Hands the one handle of `end` (see channel::native_handle()) to the child
// `cmd` will start, and tells the child where it is: the handle becomes
// descriptor `child_fd` on POSIX (Windows keeps the handle's value), and
// `variable` is set to that number, which is what from_environment() (or
// Python's Connection(int(os.environ[...]))) reads. Close your copy of `end`
// after spawn(). std::invalid_argument when `end` has no single handle.
PIPEKIT_EXPORT command& pass_channel(command& cmd, const channel& end, int child_fd = 3,
                                     const char* variable = channel_fd_variable);

// The two ends of a new channel, like Python's multiprocessing.Pipe(duplex).
struct channel_ends {
  channel first;
  channel second;
};

// duplex (the default): a socketpair (Windows: a duplex named pipe, as
// multiprocessing.Pipe() makes there); both ends send and receive.
// Not duplex: an anonymous pipe (pipekit's default capacity); `first` only
// receives and `second` only sends, as in `r, w = multiprocessing.Pipe(False)`.
// Both ends are close-on-exec: they reach a child only through pass_handle().
[[nodiscard]] PIPEKIT_EXPORT channel_ends channel_pair(bool duplex = true, const channel_options& options = {});
[[nodiscard]] PIPEKIT_EXPORT channel_ends channel_pair(bool duplex, const channel_options& options,
                                                       std::error_code& ec) noexcept;

}  // namespace pipekit
