// pipekit run on Windows: the command runs in its own job (pipekit's
// default), so a timeout or Ctrl-C ends everything it started.
//
// A child in a new process group does not get Ctrl-C from the console
// (CREATE_NEW_PROCESS_GROUP disables it), so we take Ctrl-C, Ctrl-Break and
// console close ourselves and end the job, exiting 130 as a shell reports
// an interrupted command.
#include <fmt/core.h>
#include <windows.h>

#include <atomic>

#include "cli.hpp"
#include "run.hpp"

namespace pipekit::cli {

namespace {

constexpr int exit_interrupted = 130;  // 128 + SIGINT, as shells report Ctrl-C

HANDLE interrupt_event = nullptr;

BOOL WINAPI on_console_event(DWORD) {
  if (interrupt_event != nullptr) ::SetEvent(interrupt_event);
  return TRUE;  // handled: we end the command's job and exit ourselves
}

}  // namespace

int run_command(const run_options& o) {
  if (o.pty) {
    fmt::print(stderr, "pipekit: --pty is not supported on Windows yet\n");
    return exit_run_failed;
  }
  interrupt_event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ::SetConsoleCtrlHandler(on_console_event, TRUE);

  process p;
  try {
    p = make_command(o).spawn();
  } catch (const spawn_error& e) {
    fmt::print(stderr, "pipekit: {}\n", e.what());
    return spawn_failure_status(e);
  }

  const deadline until = deadline_after(o.timeout);
  const HANDLE waits[2] = {p.exit_handle(), interrupt_event};
  for (;;) {
    const auto left = until == no_deadline
                          ? INFINITE
                          : static_cast<DWORD>(std::max<long long>(
                                0, std::chrono::ceil<std::chrono::milliseconds>(until - clock::now()).count()));
    const DWORD r = ::WaitForMultipleObjects(2, waits, FALSE, left);
    if (r == WAIT_OBJECT_0) return p.wait().shell_code();
    if (r == WAIT_OBJECT_0 + 1) {
      p.terminate(std::chrono::milliseconds(0));
      return exit_interrupted;
    }
    if (r == WAIT_TIMEOUT && clock::now() >= until) {
      if (const auto s = p.try_wait()) return s->shell_code();  // it ended just in time
      p.terminate(to_milliseconds(o.kill_after));
      return exit_timed_out;
    }
    if (r == WAIT_FAILED) {
      fmt::print(stderr, "pipekit: waiting for the command failed (error {})\n", ::GetLastError());
      p.terminate(std::chrono::milliseconds(0));
      return exit_run_failed;
    }
  }
}

}  // namespace pipekit::cli
