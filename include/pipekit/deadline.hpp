// Time limits. Every wait in pipekit takes an absolute deadline on the
// steady clock, so a loop of partial operations cannot stretch a timeout.
#pragma once

#include <chrono>

namespace pipekit {

using clock = std::chrono::steady_clock;
using deadline = clock::time_point;

// A deadline that never comes.
inline constexpr deadline no_deadline = deadline::max();

// The deadline `d` from now; a negative or zero duration means "already due".
template <class Rep, class Period>
deadline after(std::chrono::duration<Rep, Period> d) {
  const auto now = clock::now();
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(deadline::max() - now)) return no_deadline;
  return now + std::chrono::duration_cast<clock::duration>(d);
}

}  // namespace pipekit
