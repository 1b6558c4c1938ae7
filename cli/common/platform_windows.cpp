#include <fcntl.h>
#include <io.h>
#include <windows.h>

#include <cstdio>

#include "common/platform.hpp"

namespace pipekit::cli {

platforms current_platform() noexcept { return platforms::windows; }

// Handles are not numbered slots that the next open would take: nothing to do.
void reserve_standard_descriptors() noexcept {}

void set_binary_stdout() { ::_setmode(::_fileno(stdout), _O_BINARY); }
void set_binary_stdin() { ::_setmode(::_fileno(stdin), _O_BINARY); }

native_handle_type standard_output_handle() noexcept { return ::GetStdHandle(STD_OUTPUT_HANDLE); }
native_handle_type standard_input_handle() noexcept { return ::GetStdHandle(STD_INPUT_HANDLE); }

native_handle_type standard_error_handle() noexcept { return ::GetStdHandle(STD_ERROR_HANDLE); }

}  // namespace pipekit::cli
