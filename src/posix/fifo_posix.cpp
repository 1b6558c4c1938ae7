// FIFOs on POSIX: mkfifo() with an exact mode, and opens that refuse what a
// hostile user could have put at the path, and never block without end.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "pipekit/error.hpp"
#include "pipekit/fifo.hpp"
#include "pipekit/pipe.hpp"
#include "posix/syscall.hpp"
#include "sys/io.hpp"

namespace pipekit {

namespace {

std::error_code errno_code() noexcept { return detail::system_error_code(errno); }

// The checks of fifo.hpp on one stat result.
std::error_code check_fifo(const struct stat& st, const fifo_options& options) noexcept {
  if (S_ISLNK(st.st_mode)) return detail::system_error_code(ELOOP);
  if (!S_ISFIFO(st.st_mode)) return make_error_code(errc::invalid_argument);
  if (!options.allow_other_owner && st.st_uid != ::geteuid()) return std::make_error_code(std::errc::permission_denied);
  return {};
}

// Looks before opening, so that a device or a file is never opened at all
// (opening some devices has side effects); the check after the open is the
// one that counts, as the path may change in between.
bool check_path(const std::filesystem::path& path, const fifo_options& options, std::error_code& ec) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT && options.create_if_missing) {
      create_fifo(path, options.mode, ec);
      if (ec == std::errc::file_exists) ec.clear();  // another process was quicker
      if (ec) return false;
      return check_path(path, {.mode = options.mode, .allow_other_owner = options.allow_other_owner}, ec);
    }
    ec = errno_code();
    return false;
  }
  ec = check_fifo(st, options);
  return !ec;
}

// Opens `path` non-blocking; returns an invalid handle with `ec` set, or
// with `ec` clear for ENXIO (a writer without reader).
handle open_checked(const std::filesystem::path& path, int access, const fifo_options& options,
                    std::error_code& ec) noexcept {
  const int fd =
      detail::posix::retry_eintr([&] { return ::open(path.c_str(), access | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC); });
  if (fd < 0) {
    if (errno != ENXIO) ec = errno_code();
    return {};
  }
  handle h{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ec = errno_code();
    return {};
  }
  ec = check_fifo(st, options);
  if (ec) return {};
  return h;
}

handle_stream make_blocking(handle h, std::error_code& ec) noexcept {
  detail::set_handle_nonblocking(h.native_handle(), false, ec);
  if (ec) return {};
  return handle_stream{std::move(h)};
}

// The throwing forms' message: what was refused, and why, in words.
std::string describe(const char* how, const char* peer, const std::filesystem::path& path, const std::error_code& ec) {
  std::string text = "cannot open FIFO " + path.string() + " for " + how;
  if (ec == errc::invalid_argument) text += ": not a FIFO";
  if (ec == std::errc::permission_denied) text += ": owned by another user";
  if (ec == std::errc::too_many_symbolic_link_levels) text += ": is a symbolic link";
  if (ec == errc::timed_out) text += std::string(": no ") + peer + " opened it before the deadline";
  return text;
}

}  // namespace

void create_fifo(const std::filesystem::path& path, unsigned mode) {
  std::error_code ec;
  create_fifo(path, mode, ec);
  detail::throw_if(ec, "cannot create FIFO " + path.string());
}

void create_fifo(const std::filesystem::path& path, unsigned mode, std::error_code& ec) noexcept {
  ec.clear();
  if (mode > 07777) {
    ec = make_error_code(errc::invalid_argument);
    return;
  }
  // mkfifo() applies the umask, which can only take permissions away: the
  // FIFO is never more open than `mode`, even before the chmod below.
  if (::mkfifo(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    ec = errno_code();
    return;
  }
  // Set the exact mode on the FIFO, never through a symbolic link someone
  // put there after mkfifo(). glibc has done AT_SYMLINK_NOFOLLOW for
  // fchmodat() since 2.32; older systems say ENOTSUP: then chmod through a
  // descriptor of the FIFO itself (opening a FIFO's read end non-blocking has
  // no effect on anyone).
  if (::fchmodat(AT_FDCWD, path.c_str(), static_cast<mode_t>(mode), AT_SYMLINK_NOFOLLOW) == 0) return;
  if (errno == ENOTSUP || errno == EOPNOTSUPP) {
    handle h = open_checked(path, O_RDONLY, {}, ec);
    if (!ec && h.is_open() && ::fchmod(h.native_handle(), static_cast<mode_t>(mode)) == 0) return;
    if (!ec) ec = errno_code();
  } else {
    ec = errno_code();
  }
  ::unlink(path.c_str());
}

handle_stream open_fifo_reader(const std::filesystem::path& path, deadline until, const fifo_options& options) {
  std::error_code ec;
  handle_stream s = open_fifo_reader(path, until, options, ec);
  if (ec) throw std::system_error(ec, describe("reading", "writer", path, ec));
  return s;
}

handle_stream open_fifo_reader(const std::filesystem::path& path, deadline until, const fifo_options& options,
                               std::error_code& ec) noexcept {
  ec.clear();
  if (!check_path(path, options, ec)) return {};
  handle h = open_checked(path, O_RDONLY, options, ec);
  if (ec) return {};
  // A blocking open would wait for a writer without end. Instead wait for
  // what a writer does: POLLIN once it wrote, POLLHUP once it came and went.
  // Linux reports POLLHUP only if a writer connected after this open (the
  // pipe remembers the writer count at open time), so a FIFO that never had
  // a writer just keeps poll() waiting.
  struct pollfd p {};
  p.fd = h.native_handle();
  p.events = POLLIN;
  for (;;) {
    const int r = detail::posix::retry_eintr([&] { return detail::posix::sys_poll(&p, 1, detail::timeout_ms(until)); });
    if (r > 0) break;
    if (r == 0) {
      if (clock::now() < until) continue;  // poll() may round down
      ec = make_error_code(errc::timed_out);
      return {};
    }
    ec = errno_code();
    return {};
  }
  return make_blocking(std::move(h), ec);
}

handle_stream open_fifo_writer(const std::filesystem::path& path, deadline until, const fifo_options& options) {
  std::error_code ec;
  handle_stream s = open_fifo_writer(path, until, options, ec);
  if (ec) throw std::system_error(ec, describe("writing", "reader", path, ec));
  return s;
}

handle_stream open_fifo_writer(const std::filesystem::path& path, deadline until, const fifo_options& options,
                               std::error_code& ec) noexcept {
  ec.clear();
  if (!check_path(path, options, ec)) return {};
  // A non-blocking writer open fails with ENXIO while no reader has the
  // FIFO open, and POSIX offers nothing to wait on: poll the open itself.
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    handle h = open_checked(path, O_WRONLY, options, ec);
    if (ec) return {};
    if (h.is_open()) return make_blocking(std::move(h), ec);
    const auto now = clock::now();
    if (now >= until) {
      ec = make_error_code(errc::timed_out);
      return {};
    }
    std::this_thread::sleep_for(std::min<clock::duration>(pause, until - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

// fifo_reader

fifo_reader::fifo_reader(fifo_reader&& other) noexcept
    : read_end_(std::move(other.read_end_)), keep_alive_(std::move(other.keep_alive_)) {}

fifo_reader& fifo_reader::operator=(fifo_reader&& other) noexcept {
  if (this != &other) {
    read_end_ = std::move(other.read_end_);
    keep_alive_ = std::move(other.keep_alive_);
  }
  return *this;
}

fifo_reader fifo_reader::open(const std::filesystem::path& path, const fifo_options& options) {
  std::error_code ec;
  fifo_reader r = open(path, options, ec);
  if (ec) throw std::system_error(ec, describe("reading", "writer", path, ec));
  return r;
}

fifo_reader fifo_reader::open(const std::filesystem::path& path, const fifo_options& options,
                              std::error_code& ec) noexcept {
  ec.clear();
  if (!check_path(path, options, ec)) return {};
  handle read_end = open_checked(path, O_RDONLY, options, ec);
  if (ec) return {};
  // With our read end open, this open cannot fail with ENXIO. It must be the
  // same FIFO as the read end, not whatever is at the path by now.
  handle keep_alive = open_checked(path, O_WRONLY, options, ec);
  if (!ec && !keep_alive.is_open()) ec = detail::system_error_code(ENXIO);
  if (ec) return {};
  struct stat a {};
  struct stat b {};
  if (::fstat(read_end.native_handle(), &a) != 0 || ::fstat(keep_alive.native_handle(), &b) != 0 ||
      a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
    // The path was replaced between the two opens: refuse rather than hold
    // a write end of some other FIFO.
    ec = std::make_error_code(std::errc::device_or_resource_busy);
    return {};
  }
  fifo_reader r;
  r.read_end_ = make_blocking(std::move(read_end), ec);
  if (ec) return {};
  r.keep_alive_ = std::move(keep_alive);
  return r;
}

void fifo_reader::close_keep_alive() noexcept {
  std::error_code ignored;
  keep_alive_.close(ignored);
}

std::size_t fifo_reader::do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept {
  return read_end_.read_some(buf, ec);
}

std::size_t fifo_reader::do_write_some(std::span<const std::byte>, std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return 0;
}

bool fifo_reader::do_wait(events what, deadline until, std::error_code& ec) noexcept {
  return read_end_.wait(what, until, ec);
}

void fifo_reader::do_close(std::error_code& ec) noexcept {
  close_keep_alive();
  read_end_.close(ec);
}

std::size_t fifo_reader::nonblocking_write_limit() const noexcept { return detail::blocking_write_limit(); }

// write_record

std::size_t write_record(stream& s, std::span<const std::byte> record, bool atomic_only) {
  std::error_code ec;
  const std::size_t n = write_record(s, record, atomic_only, ec);
  if (ec == errc::message_too_large)
    throw std::system_error(ec, "write_record: a record of " + std::to_string(record.size()) +
                                    " bytes is larger than PIPE_BUF (" + std::to_string(pipe_atomic_write_size()) +
                                    " bytes) and would not be written atomically; nothing was written");
  detail::throw_if(ec, "write_record");
  return n;
}

std::size_t write_record(stream& s, std::span<const std::byte> record, bool atomic_only, std::error_code& ec) noexcept {
  ec.clear();
  const std::size_t atomic = pipe_atomic_write_size();
  if (record.size() > atomic) {
    if (atomic_only) {
      ec = make_error_code(errc::message_too_large);
      return 0;
    }
    return s.write_all(record, ec);
  }
  if (record.empty()) return 0;
  const std::size_t n = s.write_some(record, ec);
  // POSIX: a write of at most PIPE_BUF bytes to a pipe is all or nothing;
  // a blocking one waits for room. A part can only mean the stream is no
  // pipe: report it rather than send the rest as a torn second write.
  if (!ec && n != record.size()) ec = std::make_error_code(std::errc::io_error);
  return n;
}

}  // namespace pipekit
