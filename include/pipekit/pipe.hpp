// Anonymous pipes.
//
//   auto [r, w] = pipekit::make_pipe();
//   w.write_all("hello");
//   w.close();
//   std::string s = r.read_to_end();   // "hello"
//
// Both ends are created close-on-exec (not inheritable): a pipe end reaches a
// child only when it is handed to it explicitly (see process.hpp), so
// concurrent spawns from other threads never leak it.
//
// Writing to a pipe whose reader is gone fails with std::errc::broken_pipe;
// pipekit's writes raise no SIGPIPE (none is left pending either, also in a
// thread that blocks SIGPIPE) and never change the process's SIGPIPE
// disposition or a thread's signal mask.
#pragma once

#include <cstddef>
#include <system_error>

#include "pipekit/export.hpp"
#include "pipekit/stream.hpp"

namespace pipekit {

// pipekit's default pipe buffer: large enough that a writer and reader
// moving 64 KiB chunks do not run in lock-step (a 64 KiB pipe runs at about a
// third of the speed of a 1 MiB one on Linux).
//
// Linux charges pipe buffers to the user: past fs/pipe-user-pages-soft
// (64 MiB by default) every new pipe of that user, in any program, shrinks
// to 8 KiB. So the default enlargement is budgeted: the pipes of one pipekit
// process enlarged by default hold at most half of that limit at once, and
// pipes made beyond the budget keep the OS default. An explicit capacity
// (require_capacity) is not budgeted.
inline constexpr std::size_t default_pipe_capacity = std::size_t{1} << 20;

struct pipe_options {
  // Requested buffer size in bytes (the OS rounds it up); 0 keeps the OS default.
  std::size_t capacity = default_pipe_capacity;
  // false: when the OS refuses the capacity (e.g. the per-user pipe page limit
  // is reached) the pipe keeps the OS default. true: that is an error.
  bool require_capacity = false;
  bool nonblocking_read = false;
  bool nonblocking_write = false;
  // Windows: both ends are opened for synchronous I/O, as programs expect
  // of the standard handles they inherit (stdio::from), instead of for
  // overlapped I/O; pipekit's own deadlines then cannot cancel a read or
  // write on them. No effect on POSIX.
  bool for_children = false;
};

struct pipe_pair {
  handle_stream read_end;
  handle_stream write_end;
};

[[nodiscard]] PIPEKIT_EXPORT pipe_pair make_pipe(const pipe_options& options = {});
[[nodiscard]] PIPEKIT_EXPORT pipe_pair make_pipe(const pipe_options& options, std::error_code& ec) noexcept;

// The buffer size of the pipe behind `h`, in bytes.
[[nodiscard]] PIPEKIT_EXPORT std::size_t pipe_capacity(native_handle_type h);
[[nodiscard]] PIPEKIT_EXPORT std::size_t pipe_capacity(native_handle_type h, std::error_code& ec) noexcept;

// Asks for a buffer of at least `bytes`; returns the size the OS granted.
// Errors: not_supported where the OS has no such control (Windows fixes the
// size at creation: use pipe_options::capacity), EPERM over the
// per-user limit, EBUSY when the pipe holds more data than the new size.
PIPEKIT_EXPORT std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes);
PIPEKIT_EXPORT std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes, std::error_code& ec) noexcept;

// Moves up to `max` bytes from the pipe end `from` to the pipe end `to` (a
// relay between two pipes, e.g. to count what passes) and returns how many
// moved; 0 with no error at the end of `from`'s stream. Linux: splice(2),
// so the bytes go from one pipe buffer to the other without being copied
// through this process, and a timeout moves nothing. Elsewhere, and for
// ends splice cannot join, through a buffer of this thread: read_some()
// waits until `until`, then write_all() waits as long as `to` needs (what
// was read is never dropped). Never raises SIGPIPE: `to` without a reader
// is std::errc::broken_pipe. One thread at a time per pair.
[[nodiscard]] PIPEKIT_EXPORT std::size_t splice_some(handle_stream& from, handle_stream& to,
                                                     std::size_t max = std::size_t{1} << 20);
[[nodiscard]] PIPEKIT_EXPORT std::size_t splice_some(handle_stream& from, handle_stream& to, std::size_t max,
                                                     deadline until, std::error_code& ec) noexcept;

// Copies up to `max` bytes from the start of the pipe `from` into the pipe
// `to` without consuming them: the next read of `from` (or the next
// tee_some) sees the same bytes again. For sending one stream to several
// readers at no copy: tee to all but one, then splice_some() (which
// consumes) to the last. Waits until `until` for data in `from` and room in
// `to`; may copy fewer than `max` (as much as `to` has room for) and
// returns 0 with no error at the end of `from`'s stream. Linux: tee(2), the
// pages are shared, never copied. Elsewhere, or when either end is not a
// pipe, errc::not_supported and nothing done: copy through a buffer
// instead. `to` without a reader is std::errc::broken_pipe, never SIGPIPE.
[[nodiscard]] PIPEKIT_EXPORT std::size_t tee_some(handle_stream& from, handle_stream& to, std::size_t max,
                                                  deadline until, std::error_code& ec) noexcept;

// Drops up to `max` bytes from the start of `from` (a pipe, or any stream
// one can read) and returns how many went; 0 with no error at its end.
// Waits until `until` for data. Linux: spliced into /dev/null, so the bytes
// are never copied into this process (after tee_some() has shown a reader
// what it needed of them); elsewhere read into a buffer and forgotten.
[[nodiscard]] PIPEKIT_EXPORT std::size_t discard_some(handle_stream& from, std::size_t max, deadline until,
                                                      std::error_code& ec) noexcept;

// The bytes written to the pipe behind `h` and not yet read (FIONREAD;
// PeekNamedPipe on Windows), e.g. to see how far behind its reader is.
[[nodiscard]] PIPEKIT_EXPORT std::size_t pipe_buffered_bytes(native_handle_type h, std::error_code& ec) noexcept;

// PIPE_BUF: writes up to this size are never interleaved with other writers.
// 0 where the OS documents no such guarantee (Windows).
[[nodiscard]] PIPEKIT_EXPORT std::size_t pipe_atomic_write_size() noexcept;

}  // namespace pipekit
