// pipekit run on Windows: the command runs in its own job (pipekit's
// default), so a timeout or Ctrl-C ends everything it started. With
// --foreground it runs without a job of its own, and a timeout ends it alone.
// There are no signals to choose from: -s takes TERM and KILL, and both end
// the job at once (TerminateJobObject), so --kill-after never comes into
// play and a timeout exits 124 (-s KILL: 137, as on POSIX).
//
// A child in a new process group does not get Ctrl-C from the console
// (CREATE_NEW_PROCESS_GROUP disables it), so we take Ctrl-C, Ctrl-Break and
// console close ourselves and end the job, exiting 130 as a shell reports
// an interrupted command.
//
// With --pty the command runs on a pseudo console (ConPTY) and we copy
// between it and our stdin/stdout, as the POSIX run does with a pty. The
// console speaks VT: what it paints comes out with escape sequences, and
// keys go in as a terminal sends them (Enter is \r, Ctrl-C is \x03, which
// the console turns into the command's Ctrl-C).
#include <fmt/core.h>
#include <windows.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "commands/run.hpp"
#include "common/errors.hpp"
#include "pipekit/signals.hpp"
#include "pipekit/terminal.hpp"

namespace pipekit::cli {

namespace {

// Our console's window, for the command's console to match.
std::optional<terminal_size> our_window_size() {
  std::error_code ec;
  const terminal_size ws = window_size(::GetStdHandle(STD_OUTPUT_HANDLE), ec);
  if (ec) return std::nullopt;
  return ws;
}

bool is_console(DWORD which) { return is_terminal(::GetStdHandle(which)); }

bool write_all(HANDLE h, const char* p, std::size_t n) {
  while (n > 0) {
    DWORD done = 0;
    if (!::WriteFile(h, p, static_cast<DWORD>(std::min<std::size_t>(n, 1u << 20)), &done, nullptr)) return false;
    p += done;
    n -= done;
  }
  return true;
}

// A stream of its own on the terminal, for a thread that may outlive the
// process object.
std::shared_ptr<handle_stream> own_stream(const handle_stream& terminal) {
  HANDLE dup = nullptr;
  const HANDLE self = ::GetCurrentProcess();
  if (!::DuplicateHandle(self, terminal.native_handle(), self, &dup, 0, FALSE, DUPLICATE_SAME_ACCESS)) return nullptr;
  return std::make_shared<handle_stream>(handle{dup});
}

// The two copies run on threads of their own, each with its own stream on
// the terminal: the stdin copy may stay blocked in a read of our stdin after
// the command is gone, and the output copy after drain() gave up on it.
class pty_relay {
 public:
  pty_relay(const handle_stream& terminal, bool relay_stdin)
      : done_(std::make_shared<handle>(::CreateEventW(nullptr, TRUE, FALSE, nullptr))) {
    auto out = own_stream(terminal);
    if (!out) {
      ::SetEvent(done_->native_handle());
      return;
    }
    std::thread([out, done = done_] {
      // Until end of stream: after the command has exited and its console
      // has painted its last frame.
      std::array<std::byte, 65536> buf{};
      bool copying = true;
      for (;;) {
        std::error_code rec;
        const std::size_t n = out->read_some(buf, rec);
        if (rec || n == 0) break;
        // A stdout that went away stops the copy, not the draining.
        copying = copying && write_all(::GetStdHandle(STD_OUTPUT_HANDLE), reinterpret_cast<const char*>(buf.data()), n);
      }
      ::SetEvent(done->native_handle());
    }).detach();
    if (!relay_stdin) return;
    auto in = own_stream(terminal);
    if (!in) return;
    const bool keys = is_console(STD_INPUT_HANDLE);
    std::thread([in, keys] {
      std::array<char, 4096> buf{};
      std::string keyed;
      char last = '\0';
      for (;;) {
        DWORD n = 0;
        if (!::ReadFile(::GetStdHandle(STD_INPUT_HANDLE), buf.data(), static_cast<DWORD>(buf.size()), &n, nullptr) ||
            n == 0)
          break;
        keyed.clear();
        for (const char c : std::span(buf).first(n)) {
          // From a console these are keys already (VT input mode). From a
          // pipe or a file they are lines: a line ends with the Enter key,
          // \r, on a console, and \r\n is one Enter.
          if (!keys && c == '\n') {
            if (last != '\r') keyed += '\r';
          } else {
            keyed += c;
          }
          last = c;
        }
        std::error_code wec;
        in->write_all(std::as_bytes(std::span(keyed)), wec);
        if (wec) return;  // the command's console is gone
      }
      // End of our input: Ctrl-Z at the start of a line is end of input for
      // a console program reading lines (^D's role on POSIX).
      if (!keys) {
        std::error_code wec;
        in->write_all(last == '\r' || last == '\n' || last == '\0' ? "\x1a\r" : "\r\x1a\r", wec);
      }
    }).detach();
  }
  pty_relay(const pty_relay&) = delete;
  pty_relay& operator=(const pty_relay&) = delete;
  ~pty_relay() = default;

  // After the command exited (or was ended): the rest of its output, which
  // ends once its console is closed. Bounded all the same: we must not hang
  // on a console that stays open for a reason of its own.
  void drain() const { ::WaitForSingleObject(done_->native_handle(), 5000); }

 private:
  std::shared_ptr<handle> done_;  // set when the output copy is finished
};

}  // namespace

int run_command(const run_options& o) {
  // Ctrl-C, Ctrl-Break and the console closing: we end the command's job.
  const int interrupts[] = {signal_interrupt, signal_break, signal_hangup};
  std::error_code no_relay;  // then nothing can interrupt us but the timeout
  signal_relay interrupted{interrupts, no_relay};

  // --pty: our console (if we have one) sends keys and shows VT as a
  // terminal does, for the command's console to talk to.
  std::optional<terminal_mode> keys_mode;
  std::optional<terminal_mode> vt_mode;
  if (o.pty) {
    std::error_code not_a_console;
    keys_mode.emplace(::GetStdHandle(STD_INPUT_HANDLE), terminal_setting::raw, not_a_console);
    vt_mode.emplace(::GetStdHandle(STD_OUTPUT_HANDLE), terminal_setting::vt_output, not_a_console);
  }

  process p;
  try {
    command cmd = make_command(o);
    if (o.pty) use_pty(cmd, o, our_window_size());
    p = cmd.spawn();
  } catch (const spawn_error& e) {
    keys_mode.reset();
    vt_mode.reset();
    print_error("{}", e.what());
    return spawn_failure_status(e);
  }
  std::optional<pty_relay> relay;
  if (o.pty) relay.emplace(p.terminal(), o.stdin_file.empty());

  const deadline until = deadline_after(o.timeout);
  const HANDLE waits[2] = {p.native_handle(), interrupted.native_handle()};
  for (;;) {
    const auto left = until == no_deadline
                          ? INFINITE
                          : static_cast<DWORD>(std::max<long long>(
                                0, std::chrono::ceil<std::chrono::milliseconds>(until - clock::now()).count()));
    const DWORD r = ::WaitForMultipleObjects(interrupted.active() ? 2 : 1, waits, FALSE, left);
    // What the command wrote to its console may still be on the way.
    const auto drained = [&](int status) {
      if (relay) relay->drain();
      return status;
    };
    if (r == WAIT_OBJECT_0) return drained(p.wait().shell_code());
    if (r == WAIT_OBJECT_0 + 1) {
      p.terminate(std::chrono::milliseconds(0));
      return drained(exit_interrupted);
    }
    if (r == WAIT_TIMEOUT && clock::now() >= until) {
      if (const auto s = p.try_wait()) return drained(s->shell_code());  // it ended just in time
      return drained(time_out(p, o));
    }
    if (r == WAIT_FAILED) {
      print_error("waiting for the command failed (error {})", ::GetLastError());
      p.terminate(std::chrono::milliseconds(0));
      return exit_run_failed;
    }
  }
}

}  // namespace pipekit::cli
