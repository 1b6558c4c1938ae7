// A descriptor 0, 1 or 2 that we were started without would be taken by the
// next descriptor we open (the signal relay's pipe, a FIFO, a socket), and
// what we read from "stdin" or write to "stdout" would then go to that. So
// each closed one gets /dev/null first: reading it is end of file, writing
// it goes nowhere. Close-on-exec, so a command we run still starts with the
// descriptor closed, as it would under timeout(1).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/platform.hpp"

namespace pipekit::cli {

platforms current_platform() noexcept { return platforms::posix; }

void reserve_standard_descriptors() noexcept {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lower ones are open by now, so open() returns `fd` itself.
    const int null = ::open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
    if (null >= 0 && null != fd) ::close(null);
  }
}

// POSIX streams have no text mode.
void set_binary_stdout() {}
void set_binary_stdin() {}

native_handle_type standard_output_handle() noexcept { return STDOUT_FILENO; }
native_handle_type standard_input_handle() noexcept { return STDIN_FILENO; }

native_handle_type standard_error_handle() noexcept { return STDERR_FILENO; }

}  // namespace pipekit::cli
