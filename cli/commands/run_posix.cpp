// pipekit run on POSIX: runs one command with our standard streams, and exits with its
// status the way a shell reports it (the code, or 128 + the signal), with
// timeout(1)'s options on top (--timeout, -k, -s, --preserve-status,
// --foreground, --verbose):
//
//   pipekit run --timeout 2.5 -- make -j8
//
// The command leads its own process group (pipekit's default), so a timeout
// reaches every process it started. Signals that ask us to stop (INT, TERM,
// HUP, QUIT) are passed on to that group, and when we run in the foreground of
// a terminal the group gets the terminal, as a shell's foreground job would.
// With --pty the command runs on a new pseudo-terminal and we copy between it
// and our stdin/stdout, like script(1).
//
// Exit status: the command's; 124 when the timeout expired (137 when SIGKILL
// was needed); 125 when pipekit itself failed (bad option, --cwd or --stdin
// unusable); 126 when the program is not executable; 127 when it does not
// exist. With --foreground the command stays in our process group (as
// timeout(1)'s --foreground), so only it is signalled.
#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "commands/run.hpp"
#include "common/errors.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/process.hpp"
#include "pipekit/signals.hpp"
#include "pipekit/terminal.hpp"

namespace pipekit::cli {

namespace {

bool would_block(const std::error_code& ec) {
  return ec == std::errc::operation_would_block || ec == std::errc::resource_unavailable_try_again;
}

// One of our standard streams as a pipekit stream, without owning it: the
// descriptor stays open when this goes away.
class borrowed_stream {
 public:
  explicit borrowed_stream(native_handle_type h) : s_(handle{h}) {}
  borrowed_stream(const borrowed_stream&) = delete;
  borrowed_stream& operator=(const borrowed_stream&) = delete;
  ~borrowed_stream() { [[maybe_unused]] const native_handle_type h = s_.release_handle().release(); }
  handle_stream& operator*() noexcept { return s_; }
  handle_stream* operator->() noexcept { return &s_; }

 private:
  handle_stream s_;
};

// Our window size, for the command's terminal to match: stdin's, else stdout's.
std::optional<terminal_size> our_window_size() {
  for (const int fd : {STDIN_FILENO, STDOUT_FILENO}) {
    std::error_code ec;
    const terminal_size ws = window_size(fd, ec);
    if (!ec && ws.rows > 0 && ws.columns > 0) return ws;
  }
  return std::nullopt;
}

// ---- --pty: copying between our stdio and the command's terminal -----------

enum : std::uint64_t { tok_signal, tok_stdin, tok_terminal };

class pty_relay {
 public:
  pty_relay(handle_stream& terminal, bool relay_stdin) : terminal_(terminal), stdin_open_(relay_stdin) {}

  void start(poller& pl) {
    terminal_.set_nonblocking(true);
    pl.add(terminal_.native_handle(), events::readable, tok_terminal);
    if (stdin_open_) pl.add(STDIN_FILENO, events::readable, tok_stdin);
  }

  void on_stdin(poller& pl) {
    if (!stdin_open_ || stdin_paused_) return;  // a stale event from the same wait
    // The poller said readable, so one read cannot block (and our stdin
    // stays in blocking mode: its O_NONBLOCK flag is shared with whoever
    // else has it open).
    std::array<std::byte, 4096> buf{};
    std::error_code ec;
    const std::size_t n = in_->read_some(buf, ec);
    if (ec || n == 0) {
      // End of our input: end the command's input too. ^D ends a read on a
      // terminal; after a partial line it only pushes the line out, so then
      // it takes two.
      stdin_open_ = false;
      pl.remove(STDIN_FILENO);
      if (terminal_open_) to_child_ += (last_sent_ == '\n' || last_sent_ == '\0') ? "\x04" : "\x04\x04";
    } else {
      to_child_.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    flush_to_child(pl);
  }

  void on_terminal(poller& pl, events what) {
    if (!terminal_open_) return;
    if (any(what & events::writable)) flush_to_child(pl);
    if (any(what & (events::readable | events::hangup | events::error))) copy_output(pl);
  }

  // After the command exited: what it wrote may still be in the terminal.
  // Reading gives EIO once no process has the other side open; a background
  // process that keeps it open must not keep us here, so a short quiet spell
  // ends the drain too.
  void drain() {
    while (terminal_open_) {
      std::array<std::byte, 65536> buf{};
      std::error_code ec;
      const std::size_t n = terminal_.read_some(buf, after(std::chrono::milliseconds(200)), ec);
      if (ec || n == 0) break;
      write_out(std::span(buf).first(n));
    }
  }

 private:
  void copy_output(poller& pl) {
    std::array<std::byte, 65536> buf{};
    for (;;) {
      std::error_code ec;
      const std::size_t n = terminal_.read_some(buf, ec);
      if (would_block(ec)) return;
      if (ec || n == 0) {
        // EIO: nobody has the command's side of the terminal open any more.
        close_terminal(pl);
        return;
      }
      write_out(std::span(buf).first(n));
    }
  }

  void flush_to_child(poller& pl) {
    while (!to_child_.empty() && terminal_open_) {
      std::error_code ec;
      const std::size_t n = terminal_.write_some(std::as_bytes(std::span(to_child_)), ec);
      if (would_block(ec) || (!ec && n == 0)) break;
      if (ec) {
        close_terminal(pl);
        return;
      }
      last_sent_ = to_child_[n - 1];
      to_child_.erase(0, n);
    }
    if (!terminal_open_) return;
    // Read no more input until this is in: the command may be slow to read.
    const bool pending = !to_child_.empty();
    pl.modify(terminal_.native_handle(), pending ? events::readable | events::writable : events::readable,
              tok_terminal);
    if (stdin_open_ && pending != stdin_paused_) {
      if (pending) pl.remove(STDIN_FILENO);
      else pl.add(STDIN_FILENO, events::readable, tok_stdin);
      stdin_paused_ = pending;
    }
  }

  void close_terminal(poller& pl) {
    std::error_code ignored;
    pl.remove(terminal_.native_handle(), ignored);
    if (stdin_open_ && !stdin_paused_) pl.remove(STDIN_FILENO, ignored);
    terminal_open_ = false;
    stdin_open_ = false;
    to_child_.clear();
  }

  void write_out(std::span<const std::byte> data) {
    if (!stdout_ok_) return;
    std::error_code ec;
    out_->write_all(data, ec);
    if (ec) stdout_ok_ = false;  // e.g. our reader went away: keep running, stop copying
  }

  handle_stream& terminal_;
  borrowed_stream in_{STDIN_FILENO};
  borrowed_stream out_{STDOUT_FILENO};
  bool stdin_open_;
  bool stdin_paused_ = false;
  bool terminal_open_ = true;
  bool stdout_ok_ = true;
  std::string to_child_;
  char last_sent_ = '\0';
};

}  // namespace

int run_command(const run_options& o) {
  // We own every child we will have, so descendants the command orphans
  // (a daemon's double fork) come to us instead of init, and a timeout can
  // end them too (kill_own_descendants() below). Where the system has no
  // such thing, terminate() still reaches the group and the live tree.
  std::error_code no_subreaper;
  become_subreaper(no_subreaper);

  // Before the spawn, so that no signal is missed: one that arrives early is
  // passed on as soon as the command exists.
  std::vector<int> relayed{SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
  if (o.pty && is_terminal(STDIN_FILENO)) relayed.push_back(SIGWINCH);
  signal_relay signals{relayed};
  std::optional<terminal_lease> lease;
  // --pty: keys (Ctrl-C included) go to the command's terminal as typed, and
  // that terminal's echo is the only one. Not a terminal: nothing to change.
  std::error_code not_a_terminal;
  std::optional<terminal_mode> raw;
  if (o.pty) raw.emplace(STDIN_FILENO, terminal_setting::raw, not_a_terminal);
  else if (!o.foreground)
    lease.emplace(STDIN_FILENO);  // --foreground: the command shares our group, and so the terminal

  process p;
  try {
    command cmd = make_command(o);
    if (o.pty) use_pty(cmd, o, our_window_size());
    if (lease && lease->possible()) cmd.foreground();
    p = cmd.spawn();
  } catch (const spawn_error& e) {
    raw.reset();
    print_error("{}", e.what());
    return spawn_failure_status(e);
  }
  std::error_code not_lent;  // then it runs as in the background, as under a shell that cannot lend it
  if (lease) lease->give_to(p, not_lent);

  // poll(), not epoll: with --pty our stdin may be a regular file or
  // /dev/null, which epoll refuses.
  poller pl(poller_backend::poll);
  pl.add(signals.native_handle(), events::readable, tok_signal);
  std::optional<pty_relay> relay;
  if (o.pty) {
    relay.emplace(p.terminal(), o.stdin_file.empty());
    relay->start(pl);
  }

  const deadline until = deadline_after(o.timeout);
  std::array<poll_event, 4> ready;
  for (;;) {
    // SIGCHLD wakes the wait below, and it is relayed, so an exit between
    // this check and the wait is not missed.
    if (const auto status = p.try_wait()) {
      if (relay) relay->drain();
      if (lease) lease->take_back(status->was_signaled() ? terminal_modes::restore : terminal_modes::keep);
      return status->shell_code();
    }
    const std::size_t n = pl.wait(ready, until);
    if (n == 0 && clock::now() >= until) {
      if (p.try_wait()) continue;  // it ended just in time: report its own status
      // --signal to the whole group and tree, SIGKILL after --kill-after;
      // then whatever the command orphaned on the way (not with
      // --foreground: then only the command is ended, as by timeout(1)).
      const int status = time_out(p, o);
      std::error_code ignored;
      if (!no_subreaper && !o.foreground) (void)kill_own_descendants(ignored);
      if (relay) relay->drain();
      if (lease) lease->take_back(terminal_modes::restore);
      return status;
    }
    for (const poll_event& ev : std::span(ready).first(n)) {
      if (ev.token == tok_stdin) {
        relay->on_stdin(pl);
      } else if (ev.token == tok_terminal) {
        relay->on_terminal(pl, ev.what);
      } else {
        for (const int sig : signals.take()) {
          if (sig == SIGCHLD) {
            if (lease && lease->possible() && has_stopped(p)) lease->follow_stop(p, not_lent);
          } else if (sig == SIGWINCH) {
            // The terminal driver then sends SIGWINCH to the command itself.
            std::error_code ignored;
            if (const auto size = our_window_size()) p.resize_terminal(*size, ignored);
          } else {
            // Not yet reaped (try_wait above), so the group id is still ours.
            std::error_code ignored;
            p.signal_group(sig, ignored);
          }
        }
      }
    }
  }
}

}  // namespace pipekit::cli
