// What differs between the systems at the level of the whole command, one
// definition per system (common/platform_posix.cpp, platform_windows.cpp), so
// that main() and the command table need no #if.
#pragma once

#include "pipekit/native_handle.hpp"

namespace pipekit::cli {

// Where a command exists (a bit set).
enum class platforms : unsigned { posix = 1, windows = 2, all = 3 };

[[nodiscard]] constexpr bool includes(platforms set, platforms one) noexcept {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(one)) != 0;
}

[[nodiscard]] platforms current_platform() noexcept;

// POSIX: puts /dev/null (close-on-exec) on each of descriptors 0, 1 and 2
// that is closed, before anything else is opened. Windows: nothing.
void reserve_standard_descriptors() noexcept;

// Makes stdout write bytes as they are: `msg recv`'s output is each payload
// and "\n", never "\r\n" (Windows' text mode would add the "\r"). The same
// for stdin, for -0 and --netstring input (a line keeps text mode on
// Windows, so "\r\n" ends one). POSIX streams have no text mode.
void set_binary_stdout();
void set_binary_stdin();

// This process's standard output as the system names it (descriptor 1; the
// STD_OUTPUT_HANDLE), not owned: for a pipekit stream over a duplicate of it.
[[nodiscard]] native_handle_type standard_output_handle() noexcept;
// The same for standard input (descriptor 0; STD_INPUT_HANDLE).
[[nodiscard]] native_handle_type standard_input_handle() noexcept;
// The same for standard error (descriptor 2; STD_ERROR_HANDLE).
[[nodiscard]] native_handle_type standard_error_handle() noexcept;

}  // namespace pipekit::cli
