// Internal: pipe buffer size control, where the OS has one (Linux F_SETPIPE_SZ).
#pragma once

#include <cstddef>
#include <system_error>

#include "pipekit/native_handle.hpp"

namespace pipekit::detail {
std::size_t get_pipe_capacity(native_handle_type h, std::error_code& ec) noexcept;
std::size_t set_pipe_capacity(native_handle_type h, std::size_t bytes, std::error_code& ec) noexcept;

// The process-wide budget for pipes enlarged by default (see pipe.hpp).
// take_pipe_budget returns false when `bytes` more would exceed it.
bool take_pipe_budget(std::size_t bytes) noexcept;
void give_pipe_budget(std::size_t bytes) noexcept;
}  // namespace pipekit::detail
