// Handing a channel across processes: a channel from an inherited handle or
// from the environment variable that names it, pass_channel() for the
// parent, and channel_pair(), the two ends to start with.
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"
#include "sys/channel_io.hpp"

namespace pipekit {

channel channel::from_inherited_fd(native_handle_type fd, const channel_options& options) {
  std::error_code ec;
  channel c = from_inherited_fd(fd, options, ec);
  detail::throw_if(ec, "channel from inherited descriptor " + detail::handle_to_text(fd));
  return c;
}

channel channel::from_inherited_fd(native_handle_type fd, const channel_options& options,
                                   std::error_code& ec) noexcept {
  ec.clear();
  const detail::handle_access access = detail::adopt_inherited_handle(fd, ec);
  if (ec) return {};
  try {
    // A pipe's end (or a FIFO opened one way) gives a one-way channel, as
    // Python's Connection(fd, readable=..., writable=...) would be told.
    switch (access) {
      case detail::handle_access::read: return {std::make_unique<handle_stream>(handle(fd)), nullptr, options};
      case detail::handle_access::write: return {nullptr, std::make_unique<handle_stream>(handle(fd)), options};
      case detail::handle_access::read_write: break;
    }
    return channel(handle_stream(handle(fd)), options);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

channel channel::from_environment(const char* variable, const channel_options& options) {
  std::error_code ec;
  channel c = from_environment(variable, options, ec);
  detail::throw_if(ec, std::string("channel from environment variable ") + (variable ? variable : "(null)"));
  return c;
}

channel channel::from_environment(const char* variable, const channel_options& options, std::error_code& ec) noexcept {
  ec.clear();
  const char* value = variable != nullptr ? std::getenv(variable) : nullptr;
  native_handle_type h = invalid_native_handle;
  if (value == nullptr || !detail::handle_from_text(value, h)) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  return from_inherited_fd(h, options, ec);
}

command& pass_channel(command& cmd, const channel& end, int child_fd, const char* variable) {
  const native_handle_type h = end.native_handle();
  if (h == invalid_native_handle)
    throw std::invalid_argument("pass_channel: the channel has no single handle (closed, or two one-way handles)");
  if (variable == nullptr || *variable == '\0') throw std::invalid_argument("pass_channel: no variable name");
  return cmd.pass_handle(h, child_fd).env(variable, detail::passed_handle_text(h, child_fd));
}

channel_ends channel_pair(bool duplex, const channel_options& options) {
  std::error_code ec;
  channel_ends ends = channel_pair(duplex, options, ec);
  detail::throw_if(ec, duplex ? "channel_pair (socketpair)" : "channel_pair (pipe)");
  return ends;
}

channel_ends channel_pair(bool duplex, const channel_options& options, std::error_code& ec) noexcept {
  ec.clear();
  try {
    if (duplex) {
      handle a;
      handle b;
      detail::make_duplex_pair(a, b, ec);
      if (ec) return {};
      return {channel(handle_stream(std::move(a)), options), channel(handle_stream(std::move(b)), options)};
    }
    pipe_pair p = make_pipe(pipe_options{}, ec);
    if (ec) return {};
    return {channel(std::make_unique<handle_stream>(std::move(p.read_end)), nullptr, options),
            channel(nullptr, std::make_unique<handle_stream>(std::move(p.write_end)), options)};
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

}  // namespace pipekit
