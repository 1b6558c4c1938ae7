// Internal (POSIX): writes to pipes, FIFOs, ttys and files that never raise
// SIGPIPE and never touch its disposition; a reader that is gone reports
// EPIPE. A thread that blocks SIGPIPE itself finds none pending from them. (Sockets use MSG_NOSIGNAL instead.) One
// implementation per system: src/linux/nosignal_write_linux.cpp asks the kernel (RWF_NOSIGNAL, Linux 6.18+) and falls
// back to the guard; src/posix/nosignal_write_posix.cpp is the guard alone.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

namespace pipekit::detail {

// One writev() (write() for one piece); retries EINTR. Returns the bytes
// written, or -1 with `err` set.
ssize_t writev_nosignal(int fd, const struct iovec* iov, int count, int& err) noexcept;

// The portable way: SIGPIPE blocked in this thread around the write, and the
// SIGPIPE the write raised taken before the mask is restored (one that was
// pending before stays). Costs two pthread_sigmask() calls per write.
ssize_t writev_with_sigpipe_blocked(int fd, const struct iovec* iov, int count, int& err) noexcept;

// The same guard around any one system call that may raise SIGPIPE
// (splice(2) has no "no signal" flag): `op(ctx)` is retried on EINTR and
// returns what the call returns (-1 with errno set on failure).
ssize_t call_with_sigpipe_blocked(ssize_t (*op)(void* ctx), void* ctx, int& err) noexcept;

}  // namespace pipekit::detail
