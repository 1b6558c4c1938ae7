// The platform-neutral half of pipe.hpp: the throwing forms, and capacity
// through the platform's sys/pipe_capacity.hpp.
#include "pipekit/pipe.hpp"

#include "pipekit/error.hpp"
#include "sys/pipe_capacity.hpp"

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

}  // namespace pipekit
