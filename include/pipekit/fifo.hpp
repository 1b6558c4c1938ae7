// FIFOs (named pipes in the filesystem), POSIX only.
//
//   pipekit::create_fifo("/tmp/app.fifo");                       // mode 0600, whatever the umask
//   // a reader (waits up to 5 s for a writer):
//   pipekit::handle_stream r = pipekit::open_fifo_reader("/tmp/app.fifo", pipekit::after(5s));
//   // a writer (waits up to 5 s for a reader):
//   pipekit::handle_stream w = pipekit::open_fifo_writer("/tmp/app.fifo", pipekit::after(5s));
//   pipekit::write_record(w, std::as_bytes(std::span(line)), /*atomic_only=*/true);
//
// Opening is safe in shared directories such as /tmp. Before and after the
// open (the open itself does not follow a symbolic link, and the check after
// it looks at the object actually opened), pipekit refuses:
// - a symbolic link at `path`: the OS error ELOOP
//   (std::errc::too_many_symbolic_link_levels), kept as the OS reports it for
//   O_NOFOLLOW. Symbolic links in the directories above `path` are followed;
// - anything that is not a FIFO: errc::invalid_argument
//   (== std::errc::invalid_argument), "not a FIFO" in the throwing message;
// - a FIFO owned by another user than the effective one, unless
//   fifo_options::allow_other_owner: std::errc::permission_denied. Another
//   user's FIFO could be read or written by that user at any moment, and
//   root is not exempt.
//
// Opening never blocks without end (the FIFO is opened O_NONBLOCK, and the
// stream returned is switched back to blocking):
// - open_fifo_writer() waits for a reader, retrying every 1 ms growing to
//   20 ms, until `until`: then errc::timed_out (== std::errc::timed_out).
// - open_fifo_reader() waits until a writer has connected and either written
//   something or closed again, until `until`: then errc::timed_out. A writer
//   that connects but writes nothing before the deadline is not seen (POSIX
//   gives a reader no way to count writers). This relies on Linux's poll(),
//   which reports no hang-up for a reader whose FIFO never had a writer.
// Reading returns 0 (end of stream) once the last writer has closed; a
// reader that should outlive its writers is fifo_reader, below.
//
// Several writers: a record of up to pipe_atomic_write_size() (PIPE_BUF,
// 4096 bytes on Linux) goes out in one write() and is never interleaved with
// other writers' records: see write_record().
//
// Thread-safety: the functions are thread-safe; the streams are as stream.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"
#include "pipekit/handle.hpp"
#include "pipekit/stream.hpp"

namespace pipekit {

struct fifo_options {
  // The mode create_if_missing gives a FIFO it creates (see create_fifo()).
  unsigned mode = 0600;
  // Create the FIFO first when nothing is at the path.
  bool create_if_missing = false;
  // Open a FIFO owned by another user too.
  bool allow_other_owner = false;
};

// Creates a FIFO at `path` with exactly `mode` (the umask does not apply: the
// mode is set again after mkfifo(), on the FIFO itself, never through a
// symbolic link). Errors: std::errc::file_exists if anything is at `path`;
// errc::invalid_argument for a mode above 07777; the OS's errors otherwise.
PIPEKIT_EXPORT void create_fifo(const std::filesystem::path& path, unsigned mode = 0600);
PIPEKIT_EXPORT void create_fifo(const std::filesystem::path& path, unsigned mode, std::error_code& ec) noexcept;

[[nodiscard]] PIPEKIT_EXPORT handle_stream open_fifo_reader(const std::filesystem::path& path, deadline until,
                                                            const fifo_options& options = {});
[[nodiscard]] PIPEKIT_EXPORT handle_stream open_fifo_reader(const std::filesystem::path& path, deadline until,
                                                            const fifo_options& options, std::error_code& ec) noexcept;

[[nodiscard]] PIPEKIT_EXPORT handle_stream open_fifo_writer(const std::filesystem::path& path, deadline until,
                                                            const fifo_options& options = {});
[[nodiscard]] PIPEKIT_EXPORT handle_stream open_fifo_writer(const std::filesystem::path& path, deadline until,
                                                            const fifo_options& options, std::error_code& ec) noexcept;

// A FIFO reader that stays open while writers come and go ("keep open"): it
// holds a write end of the FIFO itself, so the last writer closing is no end
// of stream; reads wait for the next writer instead. close_keep_alive() gives
// that write end up: the stream then ends once the writers still connected
// (if any) have closed. open() checks the path as open_fifo_reader() does but
// does not wait for a writer (it cannot tell one from its own write end):
// bound the wait with the deadline forms of read_some(). Its own write end
// needs write permission on the FIFO (a mode 0400 FIFO: EACCES).
// std::errc::device_or_resource_busy: the path was replaced during open().
//
//   auto r = pipekit::fifo_reader::open("/tmp/app.fifo");
//   std::size_t n = r.read_some(buf, pipekit::after(10s), ec);   // waits across writers
//   r.close_keep_alive();
//   std::string rest = r.read_to_end();                          // ends after the last writer
class PIPEKIT_EXPORT fifo_reader final : public stream {
 public:
  fifo_reader() noexcept = default;
  fifo_reader(fifo_reader&& other) noexcept;
  fifo_reader& operator=(fifo_reader&& other) noexcept;
  ~fifo_reader() override = default;

  [[nodiscard]] static fifo_reader open(const std::filesystem::path& path, const fifo_options& options = {});
  [[nodiscard]] static fifo_reader open(const std::filesystem::path& path, const fifo_options& options,
                                        std::error_code& ec) noexcept;

  [[nodiscard]] bool is_open() const noexcept { return read_end_.is_open(); }
  [[nodiscard]] bool keeps_alive() const noexcept { return keep_alive_.is_open(); }
  [[nodiscard]] native_handle_type native_handle() const noexcept override { return read_end_.native_handle(); }
  // native_handle and nonblocking (of the read end), while open.
  [[nodiscard]] stream_caps capabilities() const noexcept override {
    return read_end_.capabilities() & (stream_caps::native_handle | stream_caps::nonblocking);
  }

  // Closes the reader's own write end; idempotent.
  void close_keep_alive() noexcept;

 protected:
  std::size_t do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept override;
  std::size_t do_write_some(std::span<const std::byte> data, std::error_code& ec) noexcept override;
  bool do_wait(events what, deadline until, std::error_code& ec) noexcept override;
  void do_close(std::error_code& ec) noexcept override;
  [[nodiscard]] std::size_t nonblocking_write_limit() const noexcept override;
  [[nodiscard]] bool blocking_io() const noexcept override { return !read_end_.nonblocking(); }
  void do_set_nonblocking(bool on, std::error_code& ec) noexcept override { read_end_.set_nonblocking(on, ec); }

 private:
  handle_stream read_end_;
  handle keep_alive_;
};

// Writes `record` in one write() call, so that a record of up to
// pipe_atomic_write_size() bytes is never torn or interleaved with other
// writers' records. A larger record: with atomic_only, nothing is written
// and the error is errc::message_too_large (== std::errc::message_size);
// without it, it is written whole with write_all() and may interleave.
// On a non-blocking stream a record that does not fit now is
// std::errc::operation_would_block, with nothing written.
// Returns the bytes written (all of them unless `ec` is set).
PIPEKIT_EXPORT std::size_t write_record(stream& s, std::span<const std::byte> record, bool atomic_only = true);
PIPEKIT_EXPORT std::size_t write_record(stream& s, std::span<const std::byte> record, bool atomic_only,
                                        std::error_code& ec) noexcept;
inline std::size_t write_record(stream& s, std::string_view record, bool atomic_only = true) {
  return write_record(s, std::as_bytes(std::span(record)), atomic_only);
}

}  // namespace pipekit
