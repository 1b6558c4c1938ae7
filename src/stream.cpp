// The portable half of stream: loops, deadlines and the throwing forms, built
// on the few virtual primitives each kind of stream provides.
#include "pipekit/stream.hpp"

#include <algorithm>
#include <chrono>
#include <climits>

#include "pipekit/error.hpp"
#include "sys/io.hpp"

namespace pipekit {

std::size_t stream::read_some(std::span<std::byte> buf) {
  std::error_code ec;
  const std::size_t n = read_some(buf, ec);
  detail::throw_if(ec, "read");
  return n;
}

std::size_t stream::read_some(std::span<std::byte> buf, std::error_code& ec) noexcept {
  ec.clear();
  return do_read_some(buf, ec);
}

std::size_t stream::read_some(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  return do_read_some_until(buf, until, ec);
}

std::size_t stream::do_read_some_until(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept {
  // A blocking stream with a deadline must not enter read() before it is
  // readable; a non-blocking one tries first and saves the poll.
  bool wait_first = until != no_deadline && blocking_io();
  for (;;) {
    ec.clear();
    if (wait_first && !do_wait(events::readable, until, ec)) {
      if (!ec) ec = make_error_code(errc::timed_out);
      return 0;
    }
    wait_first = false;
    const std::size_t n = do_read_some(buf, ec);
    if (!detail::would_block(ec)) return n;
    ec.clear();
    if (!do_wait(events::readable, until, ec)) {
      if (!ec) ec = make_error_code(errc::timed_out);
      return 0;
    }
  }
}

std::size_t stream::write_some(std::span<const std::byte> data) {
  std::error_code ec;
  const std::size_t n = write_some(data, ec);
  detail::throw_if(ec, "write");
  return n;
}

std::size_t stream::write_some(std::span<const std::byte> data, std::error_code& ec) noexcept {
  ec.clear();
  return do_write_some(data, ec);
}

std::size_t stream::write_some(std::span<const std::byte> data, deadline until, std::error_code& ec) noexcept {
  if (until != no_deadline) {
    ec.clear();
    return do_write_some_until(data, until, ec);
  }
  // Without a deadline a blocking stream may simply block.
  for (;;) {
    ec.clear();
    const std::size_t n = do_write_some(data, ec);
    if (!detail::would_block(ec)) return n;
    ec.clear();
    if (!do_wait(events::writable, until, ec)) return 0;
  }
}

std::size_t stream::do_write_some_until(std::span<const std::byte> data, deadline until, std::error_code& ec) noexcept {
  for (;;) {
    // Wait first: on a blocking stream a large write could block past the
    // deadline, so it is also cut to what cannot block once writable.
    ec.clear();
    if (!do_wait(events::writable, until, ec)) {
      if (!ec) ec = make_error_code(errc::timed_out);
      return 0;
    }
    const std::size_t limit = nonblocking_write_limit();
    const std::size_t n = do_write_some(data.first(std::min(data.size(), limit)), ec);
    if (!detail::would_block(ec)) return n;
  }
}

std::size_t stream::write_all(std::span<const std::byte> data) {
  std::error_code ec;
  const std::size_t n = write_all(data, ec);
  detail::throw_if(ec, "write");
  return n;
}

std::size_t stream::write_all(std::span<const std::byte> data, std::error_code& ec) noexcept {
  return write_all(data, no_deadline, ec);
}

std::size_t stream::write_all(std::span<const std::byte> data, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t n = write_some(data.subspan(done), until, ec);
    done += n;
    if (ec) return done;
  }
  return done;
}

std::size_t stream::read_exact(std::span<std::byte> buf) {
  std::error_code ec;
  const std::size_t n = read_exact(buf, ec);
  detail::throw_if(ec, "read");
  return n;
}

std::size_t stream::read_exact(std::span<std::byte> buf, std::error_code& ec) noexcept {
  return read_exact(buf, no_deadline, ec);
}

std::size_t stream::read_exact(std::span<std::byte> buf, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  std::size_t done = 0;
  while (done < buf.size()) {
    const std::size_t n = read_some(buf.subspan(done), until, ec);
    if (ec) return done;
    if (n == 0) {
      ec = make_error_code(errc::end_of_file);
      return done;
    }
    done += n;
  }
  return done;
}

std::string stream::read_to_end() {
  std::error_code ec;
  std::string s = read_to_end(ec);
  detail::throw_if(ec, "read");
  return s;
}

std::string stream::read_to_end(std::error_code& ec) { return read_to_end(no_deadline, ec); }

std::string stream::read_to_end(deadline until, std::error_code& ec) {
  ec.clear();
  std::string out;
  std::size_t used = 0;
  for (;;) {
    if (out.size() - used < 16384) out.resize(std::max<std::size_t>(65536, out.size() * 2));
    const std::size_t n = read_some(std::as_writable_bytes(std::span(out.data() + used, out.size() - used)), until, ec);
    if (ec || n == 0) break;
    used += n;
  }
  out.resize(used);
  return out;
}

bool stream::wait(events what, deadline until) {
  std::error_code ec;
  const bool ready = wait(what, until, ec);
  detail::throw_if(ec, "wait");
  return ready;
}

bool stream::wait(events what, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  return do_wait(what, until, ec);
}

void stream::set_nonblocking(bool on) {
  std::error_code ec;
  set_nonblocking(on, ec);
  detail::throw_if(ec, "set_nonblocking");
}

void stream::set_nonblocking(bool on, std::error_code& ec) noexcept {
  ec.clear();
  do_set_nonblocking(on, ec);
}

void stream::do_set_nonblocking(bool, std::error_code& ec) noexcept { ec = make_error_code(errc::not_supported); }

stream_caps stream::capabilities() const noexcept {
  return native_handle() != invalid_native_handle ? stream_caps::native_handle : stream_caps::none;
}

void stream::close() {
  std::error_code ec;
  close(ec);
  detail::throw_if(ec, "close");
}

void stream::close(std::error_code& ec) noexcept {
  ec.clear();
  do_close(ec);
}

}  // namespace pipekit
