// Internal: Windows pipes made from a uniquely named pipe, so that each end
// can be opened for overlapped I/O or not (CreatePipe gives neither end
// overlapped I/O, which pipekit's deadlines and communicate() need).
#pragma once

#include <cstddef>
#include <system_error>

#include "pipekit/handle.hpp"

namespace pipekit::detail {

struct win_pipe_ends {
  handle read_end;
  handle write_end;
};

// Neither end is inheritable. `capacity` 0 keeps the system default.
win_pipe_ends make_win_pipe(std::size_t capacity, bool read_overlapped, bool write_overlapped,
                            std::error_code& ec) noexcept;

// Two connected ends of one duplex byte-mode pipe, both overlapped and not
// inheritable (what multiprocessing.Pipe() makes on Windows).
void make_win_duplex_pipe(std::size_t capacity, handle& a, handle& b, std::error_code& ec) noexcept;

}  // namespace pipekit::detail
