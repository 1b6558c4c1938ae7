#include <fcntl.h>

#include <cerrno>
#include <climits>

#include "pipekit/error.hpp"
#include "sys/pipe_capacity.hpp"

namespace pipekit::detail {

std::size_t get_pipe_capacity(native_handle_type h, std::error_code& ec) noexcept {
  const int n = ::fcntl(h, F_GETPIPE_SZ);
  if (n < 0) {
    ec = system_error_code(errno);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes, std::error_code& ec) noexcept {
  if (bytes > static_cast<std::size_t>(INT_MAX)) {
    ec = system_error_code(EINVAL);
    return 0;
  }
  const int n = ::fcntl(h, F_SETPIPE_SZ, static_cast<int>(bytes));
  if (n < 0) {
    ec = system_error_code(errno);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace pipekit::detail
