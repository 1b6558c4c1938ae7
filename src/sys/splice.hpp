// Internal: moving (splice) or copying (tee) bytes from one pipe to another
// inside the kernel, for pipekit::splice_some() and tee_some() (src/pipe.cpp);
// splice_some() copies through a buffer wherever this says it cannot.
// Linux: src/linux/splice_linux.cpp.
#pragma once

#include <cstddef>
#include <system_error>

#include "pipekit/deadline.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit::detail {

// Moves up to `max` bytes from the pipe `from` into the pipe `to`, waiting
// until `until` for data in `from` and room in `to`. Returns true when it
// handled the call: `moved` > 0; `moved` == 0 and no error at the end of
// `from`; or `ec` (timed_out with nothing moved, broken_pipe when `to` has
// no reader — never a SIGPIPE). False, with nothing done, when this system
// or this pair of handles cannot be spliced.
#if defined(__linux__)
bool splice_pipes(native_handle_type from, native_handle_type to, std::size_t max, deadline until, std::size_t& moved,
                  std::error_code& ec) noexcept;
// The same, but the bytes stay in `from` too: tee(2).
bool tee_pipes(native_handle_type from, native_handle_type to, std::size_t max, deadline until, std::size_t& moved,
               std::error_code& ec) noexcept;
// The same, into /dev/null: the bytes leave `from` and go nowhere.
bool discard_pipe(native_handle_type from, std::size_t max, deadline until, std::size_t& moved,
                  std::error_code& ec) noexcept;
#else
inline bool splice_pipes(native_handle_type, native_handle_type, std::size_t, deadline, std::size_t& moved,
                         std::error_code&) noexcept {
  moved = 0;
  return false;
}
inline bool tee_pipes(native_handle_type, native_handle_type, std::size_t, deadline, std::size_t& moved,
                      std::error_code&) noexcept {
  moved = 0;
  return false;
}
inline bool discard_pipe(native_handle_type, std::size_t, deadline, std::size_t& moved, std::error_code&) noexcept {
  moved = 0;
  return false;
}
#endif

}  // namespace pipekit::detail
