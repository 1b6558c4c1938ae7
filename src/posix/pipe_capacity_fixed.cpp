// POSIX systems without a capacity control: the size can be read only by
// knowing the system's constant, and cannot be changed.
#include <climits>

#include "pipekit/error.hpp"
#include "sys/pipe_capacity.hpp"

namespace pipekit::detail {

std::size_t get_pipe_capacity(native_handle_type, std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return 0;
}

std::size_t set_pipe_capacity(native_handle_type, std::size_t, std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return 0;
}

bool take_pipe_budget(std::size_t) noexcept { return true; }
void give_pipe_budget(std::size_t) noexcept {}

}  // namespace pipekit::detail
