// Internal OS-neutral interface for what channels need beyond sys/io.hpp:
// gather writes that neither block nor raise SIGPIPE, waiting on a read and a
// write handle at once, socket pairs, half-close, and adopting an inherited
// handle. One implementation per platform (src/posix/channel_posix.cpp).
#pragma once

#include <cstddef>
#include <span>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/handle.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit::detail {

// The most pieces one gather_write() call takes (the rest is ignored).
std::size_t gather_write_limit() noexcept;

// One gather write of `pieces`, in order; retries EINTR; returns the bytes
// written. Never blocks: sockets are written with MSG_DONTWAIT, any other
// handle must already be in non-blocking mode (a full buffer reports
// operation_would_block). Never raises SIGPIPE and never changes the
// process's SIGPIPE disposition: a peer that is gone reports broken_pipe.
std::size_t gather_write(native_handle_type h, std::span<const std::span<const std::byte>> pieces, bool is_socket,
                         std::error_code& ec) noexcept;

struct read_write_readiness {
  bool readable = false;  // also at end of stream or on error: the next read reports it
  bool writable = false;  // also when the peer is gone: the next write reports it
};

// Waits until `w` is writable or `r` is readable, whichever comes first.
// `r` may be invalid_native_handle (wait for `w` only) or equal to `w` (one
// duplex handle). Returns false when `until` passes first. EINTR is retried.
bool wait_read_or_write(native_handle_type r, native_handle_type w, deadline until, read_write_readiness& ready,
                        std::error_code& ec) noexcept;

// Two connected, close-on-exec stream sockets (socketpair on POSIX).
void make_socket_pair(handle& a, handle& b, std::error_code& ec) noexcept;

// Shuts down one or both directions of a socket (no-op result for others is
// an error the caller may ignore).
void shutdown_socket(native_handle_type h, bool reading, bool writing, std::error_code& ec) noexcept;

// Which directions a handle was opened for (a pipe's read end: read).
enum class handle_access { read, write, read_write };

// Checks that an inherited handle is open, makes it non-inheritable, and
// says which directions it allows.
handle_access adopt_inherited_handle(native_handle_type h, std::error_code& ec) noexcept;

}  // namespace pipekit::detail
