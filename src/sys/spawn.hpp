// Internal interface between the portable process code (src/process.cpp) and
// the platform that starts and reaps processes (src/posix/spawn_posix.cpp, src/windows/spawn_windows.cpp).
#pragma once

#include <optional>
#include <string>
#include <system_error>

#include "pipekit/process.hpp"

namespace pipekit::detail {

// Starts `cmd`, which src/process.cpp has already validated. On failure
// returns an invalid process, sets ec and fills `why` (exec: the detail may
// say "interpreter 'X' not found").
process spawn_process(const command& cmd, std::error_code& ec, spawn_failure& why) noexcept;

// What identifies a child to the platform.
struct process_ids {
  int pid = 0;
  int pgid = 0;                                       // the group it leads, or 0
  native_handle_type handle = invalid_native_handle;  // pidfd / process HANDLE, if any
  native_handle_type group = invalid_native_handle;   // Windows job object, if any
};

// Waits until the process has exited, without reaping it, so its pid (and
// its process group id) cannot be reused meanwhile. false when `until`
// passed first.
bool wait_exited(const process_ids& p, deadline until, std::error_code& ec) noexcept;

// Reaps the process. With `block` false, returns nullopt if it still runs.
std::optional<exit_status> reap(const process_ids& p, bool block, std::error_code& ec) noexcept;

void send_signal_to(const process_ids& p, int sig, std::error_code& ec) noexcept;
// The whole group (job on Windows); the process alone when it leads none.
void send_signal_to_group(const process_ids& p, int sig, std::error_code& ec) noexcept;

// The platform's "terminate" and "kill" signals (SIGTERM, SIGKILL).
int terminate_signal() noexcept;
int kill_signal() noexcept;
int continue_signal() noexcept;  // SIGCONT, or 0 where there is none

// Makes the caller's process group the foreground of terminal `tty` again.
void reclaim_terminal(native_handle_type tty) noexcept;

// Sets the window size of a pseudo-terminal master.
void resize_pty(native_handle_type master, terminal_size size, std::error_code& ec) noexcept;

// The name of a signal ("SIGKILL"), or "" if unknown.
std::string signal_name(int sig);

// The platform's half of exit_status::crashed(): a signal that means the
// process faulted (POSIX; never on Windows), an exit code that does
// (Windows NTSTATUS errors; never on POSIX).
bool is_crash_signal(int sig) noexcept;
bool is_crash_code(int code) noexcept;
// What a system status used as an exit code means ("access violation"), or
// "" when the platform has no name for it (always on POSIX).
std::string exit_code_name(int code);

}  // namespace pipekit::detail
