// The platform-neutral half of pipe.hpp: the throwing forms, capacity
// through the platform's sys/pipe_capacity.hpp, and splice_some() with its
// copying fallback.
#include "pipekit/pipe.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <span>

#include "pipekit/error.hpp"
#include "sys/pipe_capacity.hpp"
#include "sys/splice.hpp"

namespace pipekit {

pipe_pair make_pipe(const pipe_options& options) {
  std::error_code ec;
  pipe_pair p = make_pipe(options, ec);
  detail::throw_if(ec, "pipe");
  return p;
}

std::size_t pipe_capacity(native_handle_type h) {
  std::error_code ec;
  const std::size_t n = pipe_capacity(h, ec);
  detail::throw_if(ec, "pipe_capacity");
  return n;
}

std::size_t pipe_capacity(native_handle_type h, std::error_code& ec) noexcept {
  ec.clear();
  return detail::get_pipe_capacity(h, ec);
}

std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes) {
  std::error_code ec;
  const std::size_t n = set_pipe_capacity(h, bytes, ec);
  detail::throw_if(ec, "set_pipe_capacity");
  return n;
}

std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes, std::error_code& ec) noexcept {
  ec.clear();
  return detail::set_pipe_capacity(h, bytes, ec);
}

namespace {
// What splice_some(), tee_some() and discard_some() check first: open ends
// (`to` may be absent) and something to move. False: return 0 (with `ec`
// set for a closed end).
bool may_move(const handle_stream& from, const handle_stream* to, std::size_t max, std::error_code& ec) noexcept {
  ec.clear();
  if (!from.is_open() || (to != nullptr && !to->is_open())) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return false;
  }
  return max > 0;
}
}  // namespace

std::size_t splice_some(handle_stream& from, handle_stream& to, std::size_t max) {
  std::error_code ec;
  const std::size_t n = splice_some(from, to, max, no_deadline, ec);
  detail::throw_if(ec, "splice");
  return n;
}

std::size_t splice_some(handle_stream& from, handle_stream& to, std::size_t max, deadline until,
                        std::error_code& ec) noexcept {
  if (!may_move(from, &to, max, ec)) return 0;
  std::size_t moved = 0;
  if (detail::splice_pipes(from.native_handle(), to.native_handle(), max, until, moved, ec)) return moved;
  // Through a buffer: one per thread, allocated once, never zero-filled.
  constexpr std::size_t buffer_size = std::size_t{256} << 10;
  thread_local std::unique_ptr<std::byte[]> buffer;
  if (!buffer) {
    buffer.reset(new (std::nothrow) std::byte[buffer_size]);
    if (!buffer) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return 0;
    }
  }
  const std::span<std::byte> space(buffer.get(), std::min(max, buffer_size));
  const std::size_t n = from.read_some(space, until, ec);
  if (ec || n == 0) return 0;
  (void)to.write_all(space.first(n), ec);
  return ec ? 0 : n;
}

std::size_t discard_some(handle_stream& from, std::size_t max, deadline until, std::error_code& ec) noexcept {
  if (!may_move(from, nullptr, max, ec)) return 0;
  std::size_t moved = 0;
  if (detail::discard_pipe(from.native_handle(), max, until, moved, ec)) return moved;
  std::byte sink[16 * 1024];
  return from.read_some(std::span(sink, std::min(max, sizeof sink)), until, ec);
}

std::size_t tee_some(handle_stream& from, handle_stream& to, std::size_t max, deadline until,
                     std::error_code& ec) noexcept {
  if (!may_move(from, &to, max, ec)) return 0;
  std::size_t copied = 0;
  if (detail::tee_pipes(from.native_handle(), to.native_handle(), max, until, copied, ec)) return copied;
  ec = make_error_code(errc::not_supported);
  return 0;
}

}  // namespace pipekit
