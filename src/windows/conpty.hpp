// Internal: stdio::pty() on Windows. A pseudo console (ConPTY) for one child,
// seen by the parent as ONE handle, as a POSIX pty master is: the parent's
// end of a duplex named pipe, which process::terminal() wraps.
//
// ConPTY itself talks through two synchronous pipes (console input, console
// output), and a single synchronous handle cannot carry both directions at
// once: Windows serialises every operation on a handle opened without
// FILE_FLAG_OVERLAPPED, so the console's blocked read of its input would hold
// up its writes of output. Two small threads therefore relay between the
// duplex pipe and the console's pipes, and close the console once the child
// has exited (see conpty_windows.cpp).
#pragma once

#include <memory>
#include <system_error>

#include "pipekit/handle.hpp"
#include "pipekit/process.hpp"

namespace pipekit::detail {

struct conpty_session;

class conpty {
 public:
  conpty() noexcept = default;
  conpty(conpty&& other) noexcept = default;
  conpty& operator=(conpty&& other) noexcept = default;
  conpty(const conpty&) = delete;
  conpty& operator=(const conpty&) = delete;
  // Before start() succeeded: closes the console (no child is attached).
  ~conpty();

  // Creates a console of `size` and the pipes around it. not_supported
  // where the system has no ConPTY (before Windows 10 1809).
  [[nodiscard]] static conpty open(terminal_size size, std::error_code& ec) noexcept;

  // The HPCON for PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE.
  [[nodiscard]] void* console() const noexcept;

  // Starts relaying for the child `process` (a process HANDLE; duplicated)
  // and returns the parent's end, for process::terminal(). From here on the
  // relay owns the console: it closes it once the child has exited and all
  // the child's output is in the pipe, then closes its end, so reading the
  // terminal ends with end of stream after the last of the output.
  [[nodiscard]] handle start(native_handle_type process, std::error_code& ec) noexcept;

 private:
  std::shared_ptr<conpty_session> s_;
};

// ResizePseudoConsole for the console behind `terminal` (a handle start()
// returned). process_not_running once the console is closed.
void resize_conpty(native_handle_type terminal, terminal_size size, std::error_code& ec) noexcept;

}  // namespace pipekit::detail
