// What the system allows: pipe sizes, atomic write size, descriptor and
// process limits. `pipekit limits` prints these.
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>

#include "pipekit/export.hpp"

namespace pipekit {

struct system_limits {
  std::uint64_t pipe_default_capacity = 0;         // a new pipe's buffer, bytes
  std::optional<std::uint64_t> pipe_max_capacity;  // most an unprivileged user may set; nullopt: unknown
  std::uint64_t pipe_atomic_write = 0;             // PIPE_BUF
  // Per-user pipe pages before new pipes shrink (soft) and before enlarging
  // fails (hard); nullopt: no limit, or not a Linux system.
  std::optional<std::uint64_t> pipe_user_pages_soft;
  std::optional<std::uint64_t> pipe_user_pages_hard;
  std::optional<std::uint64_t> descriptors_soft;  // nullopt: unlimited
  std::optional<std::uint64_t> descriptors_hard;
  std::optional<std::uint64_t> processes_soft;
  std::optional<std::uint64_t> processes_hard;
};

[[nodiscard]] PIPEKIT_EXPORT system_limits query_limits();
[[nodiscard]] PIPEKIT_EXPORT system_limits query_limits(std::error_code& ec) noexcept;

}  // namespace pipekit
