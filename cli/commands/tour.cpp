// pipekit tour: shows, on this machine, each kind of pipe pipekit has so far
// and what it measures. Every section checks what it demonstrates; the tour
// exits 0 only when all of them worked, and takes a few seconds.
#include <fmt/core.h>
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "commands/commands.hpp"
#include "common/numbers.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/local.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/poller.hpp"
#include "pipekit/process.hpp"
#include "pipekit/version.hpp"

namespace pipekit::cli {

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

double seconds_since(clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); }
double gib_per_second(std::size_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / static_cast<double>(mib * 1024) : 0.0;
}

template <class... Args>
void say(fmt::format_string<Args...> f, Args&&... args) {
  fmt::print("    {}\n", fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
bool fail(fmt::format_string<Args...> f, Args&&... args) {
  fmt::print("    FAILED: {}\n", fmt::format(f, std::forward<Args>(args)...));
  return false;
}

// Members of process group `pgid` that are still alive (zombies are dead:
// they wait only for their parent, often init, to collect them).
std::vector<int> live_group_members(int pgid) {
  std::vector<int> live;
  std::error_code ec;
  std::filesystem::directory_iterator proc("/proc", ec);
  if (ec) {  // no /proc: ask the kernel about the group as a whole
    if (::kill(-pgid, 0) == 0) live.push_back(-pgid);
    return live;
  }
  for (const auto& entry : proc) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    int pgrp = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') live.push_back(std::stoi(name));
  }
  return live;
}

std::string read_terminal_until_closed(handle_stream& terminal, deadline until) {
  std::string out;
  std::array<std::byte, 4096> buf{};
  for (;;) {
    std::error_code ec;
    const std::size_t n = terminal.read_some(buf, until, ec);
    if (ec || n == 0) break;  // EIO: the child's side is closed
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  for (const char c : text) {
    if (c == '\r') continue;
    if (c == '\n') lines.push_back(std::exchange(line, {}));
    else line += c;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

// ---- the sections -------------------------------------------------------------

bool anonymous_pipe() {
  pipe_options os_default;
  os_default.capacity = 0;
  const pipe_pair plain = make_pipe(os_default);
  pipe_pair p = make_pipe();
  const std::size_t os_capacity = pipe_capacity(plain.read_end.native_handle());
  const std::size_t capacity = pipe_capacity(p.read_end.native_handle());

  const std::string message = "hello through a pipe";
  p.write_end.write_all(message);
  std::string got(message.size(), '\0');
  p.read_end.read_exact(std::as_writable_bytes(std::span(got)));
  say(R"(wrote "{}" and read it back: "{}")", message, got);
  say("capacity: {} by default, {} for a pipekit pipe{}; writes up to {} (PIPE_BUF) are atomic",
      format_bytes(os_capacity), format_bytes(capacity),
      capacity < default_pipe_capacity ? fmt::format(" (asked for {}: refused)", format_bytes(default_pipe_capacity))
                                       : "",
      format_bytes(pipe_atomic_write_size()));

  // Throughput: a writer thread against this thread reading.
  constexpr std::size_t total = 64 * mib;
  std::error_code write_ec;
  const auto t0 = clock::now();
  std::thread writer([&] {
    const std::vector<std::byte> chunk(std::size_t{256} * 1024, std::byte{'x'});
    for (std::size_t done = 0; done < total && !write_ec; done += chunk.size()) p.write_end.write_all(chunk, write_ec);
    std::error_code ignored;
    p.write_end.close(ignored);
  });
  std::vector<std::byte> buf(mib);
  std::size_t received = 0;
  std::error_code read_ec;
  for (;;) {
    const std::size_t n = p.read_end.read_some(buf, read_ec);
    if (read_ec || n == 0) break;
    received += n;
  }
  writer.join();
  const double secs = seconds_since(t0);
  if (write_ec || read_ec) return fail("transfer: {}", (write_ec ? write_ec : read_ec).message());
  if (received != total) return fail("received {} bytes of {}", received, total);
  say("{} through it (writer thread -> reader): {:.3f} s, {:.2f} GiB/s", format_bytes(total), secs,
      gib_per_second(total, secs));
  return got == message || fail("read back \"{}\"", got);
}

bool broken_pipe() {
  pipe_pair p = make_pipe();
  p.read_end.close();
  std::error_code ec;
  const std::size_t written = p.write_end.write_all("anyone there?", ec);
  say("write after the reader closed: \"{}\" ({} bytes written)", ec.message(), written);
  if (ec != std::errc::broken_pipe) return fail("expected a broken pipe error");
  say("no SIGPIPE death: this process (pid {}) is still running", ::getpid());
  return true;
}

bool nonblocking_read() {
  pipe_options o;
  o.nonblocking_read = true;
  pipe_pair p = make_pipe(o);
  std::array<std::byte, 16> buf{};
  std::error_code ec;
  [[maybe_unused]] std::size_t n = p.read_end.read_some(buf, ec);
  say("read on an empty non-blocking pipe: returns at once, would block (\"{}\")", ec.message());
  if (ec != std::errc::operation_would_block && ec != std::errc::resource_unavailable_try_again)
    return fail("expected would-block");

  p.write_end.write_all("x");
  n = p.read_end.read_some(buf, ec);
  if (ec || n != 1) return fail("no data after a write: {}", ec.message());
  say("after a 1-byte write the same read returns {} byte", n);

  // The other way not to hang: a blocking pipe and a deadline.
  pipe_pair blocking = make_pipe();
  const auto t0 = clock::now();
  n = blocking.read_end.read_some(buf, after(std::chrono::milliseconds(50)), ec);
  say("a blocking pipe's read with a 50 ms deadline: timed out (\"{}\") after {:.0f} ms", ec.message(),
      seconds_since(t0) * 1000);
  if (ec != std::errc::timed_out) return fail("expected a timeout");
  return true;
}

bool poller_two_children() {
  // Started slow first: arrival order, not start order, is what the poller shows.
  command slow{"sh", "-c", "sleep 0.2; echo slow"};
  command fast{"echo", "fast"};
  slow.set_stdout(stdio::pipe());
  fast.set_stdout(stdio::pipe());
  const auto t0 = clock::now();
  std::array<process, 2> children{slow.spawn(), fast.spawn()};
  const std::array<const char*, 2> names{"slow", "fast"};

  poller pl;
  for (std::uint64_t i = 0; i < children.size(); ++i) pl.add(children[i].out().native_handle(), events::readable, i);
  std::array<std::string, 2> text;
  std::vector<std::pair<std::size_t, double>> arrivals;  // child, ms since start
  std::size_t open = children.size();
  const deadline give_up = after(std::chrono::seconds(5));
  std::array<poll_event, 4> ready;
  while (open > 0) {
    const std::size_t n = pl.wait(ready, give_up);
    if (n == 0) return fail("nothing arrived for 5 s");
    for (const poll_event& ev : std::span(ready).first(n)) {
      handle_stream& out = children[ev.token].out();
      std::array<std::byte, 256> buf{};
      const std::size_t got = out.read_some(buf);
      if (got == 0) {
        pl.remove(out.native_handle());
        out.close();
        --open;
        continue;
      }
      if (text[ev.token].empty()) arrivals.emplace_back(ev.token, seconds_since(t0) * 1000);
      text[ev.token].append(reinterpret_cast<const char*>(buf.data()), got);
    }
  }
  say("started `sh -c 'sleep 0.2; echo slow'`, then `echo fast`; one {} poller watched both stdout pipes",
      pl.backend() == poller_backend::epoll ? "epoll" : "poll()");
  std::string order;
  for (const auto& [child, ms] : arrivals)
    order += fmt::format("{}\"{}\" after {:.0f} ms", order.empty() ? "" : ", then ", names[child], ms);
  say("arrived: {}", order);
  for (std::size_t i = 0; i < children.size(); ++i) {
    const exit_status s = children[i].wait();
    if (!s.success()) return fail("'{}' {}", names[i], s.to_string());
  }
  if (text[0] != "slow\n" || text[1] != "fast\n") return fail(R"(unexpected output "{}", "{}")", text[0], text[1]);
  return true;
}

bool communicate_with_cat() {
  constexpr std::size_t size = 16 * mib;
  std::string input(size, '\0');
  for (std::size_t i = 0; i < size; ++i) input[i] = static_cast<char>('a' + i % 26);
  // Twice: the first large transfer of a process costs several times a later
  // one, for a raw poll() loop just the same (the kernel's first use of pipe
  // pages and fresh memory); the second call is what a program that does
  // this often gets.
  double seconds[2] = {};
  for (double& secs : seconds) {
    command cat{"cat"};
    cat.set_stdin(stdio::pipe()).set_stdout(stdio::pipe());
    const auto t0 = clock::now();
    process p = cat.spawn();
    const communicate_result r = p.communicate(input, after(std::chrono::seconds(30)));
    const exit_status s = p.wait();
    secs = seconds_since(t0);
    if (!s.success()) return fail("cat {}", s.to_string());
    if (r.out != input)
      return fail("got {} bytes back, {}", r.out.size(), r.out.size() == size ? "different" : "short");
  }
  say("{} into `cat` and back out, both at once (communicate): {:.3f} s, {:.2f} GiB/s", format_bytes(size), seconds[1],
      gib_per_second(size, seconds[1]));
  say("the first time in this process: {:.3f} s, {:.2f} GiB/s (first use of pipe pages and fresh memory)", seconds[0],
      gib_per_second(size, seconds[0]));
  say("cat exited with code 0, both times");
  return true;
}

bool timeout_kills_tree() {
  command c{"sh", "-c", "sleep 60 & sleep 60"};
  c.set_stdin(stdio::null()).set_stdout(stdio::null()).set_stderr(stdio::null());
  const auto t0 = clock::now();
  process p = c.spawn();
  const int group = p.group_id();
  if (const auto early = p.wait_until(after(std::chrono::milliseconds(500))))
    return fail("it ended by itself: {}", early->to_string());
  const exit_status s = p.terminate(std::chrono::seconds(2));
  const double secs = seconds_since(t0);
  say("`sh -c 'sleep 60 & sleep 60'` with a 0.5 s deadline: terminated after {:.2f} s; sh {}", secs, s.to_string());

  // SIGKILL is sent, not yet acted on: give the group a moment to die.
  std::vector<int> live = live_group_members(group);
  for (const deadline until = after(std::chrono::seconds(1)); !live.empty() && clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    live = live_group_members(group);
  }
  if (!live.empty()) return fail("{} process(es) of group {} survived, e.g. pid {}", live.size(), group, live.front());
  say("survivors in its process group ({}): none", group);
  return s.was_signaled() || fail("sh {}", s.to_string());
}

bool missing_program() {
  try {
    process p = command{"pipekit-no-such-program"}.spawn();
    return fail("it started");
  } catch (const spawn_error& e) {
    say("spawn() threw: {}", e.what());
    say("error code {} ({}), failed at {}", e.code().value(), e.code().category().name(), to_string(e.stage()));
    return e.code() == std::errc::no_such_file_or_directory || fail("expected ENOENT");
  }
}

bool pseudo_terminal() {
  const terminal_size size{33, 111};
  command c{"sh", "-c", "tty; stty size"};
  c.set_stdin(stdio::pty()).set_stdout(stdio::pty()).set_stderr(stdio::pty()).pty_size(size);
  process p = c.spawn();
  const std::string out = read_terminal_until_closed(p.terminal(), after(std::chrono::seconds(5)));
  const auto s = p.wait_until(after(std::chrono::seconds(5)));
  const std::vector<std::string> lines = lines_of(out);
  say("`sh -c 'tty; stty size'` on a pty: its terminal is {}", lines.empty() ? "(nothing)" : lines[0]);
  const std::string expected = fmt::format("{} {}", size.rows, size.columns);
  say("the size it sees: {} (we asked for {} rows, {} columns)", lines.size() > 1 ? lines[1] : "(nothing)", size.rows,
      size.columns);
  if (!s) return fail("it did not exit within 5 s");
  if (lines.size() < 2 || !lines[0].starts_with("/dev/") || lines[1] != expected)
    return fail("the child did not see the terminal: \"{}\"", out);
  return s->success() || fail("sh {}", s->to_string());
}

bool spawn_rate() {
  constexpr int count = 200;
  const command t{"true"};
  const auto t0 = clock::now();
  for (int i = 0; i < count; ++i) {
    const exit_status s = t.spawn().wait();
    if (!s.success()) return fail("`true` {}", s.to_string());
  }
  const double secs = seconds_since(t0);
  say("{} x spawn + wait of `true`: {:.3f} s, {:.0f} spawns/s", count, secs, count / secs);
  return true;
}

// Two clients talk to one server at once; message mode keeps each message
// whole, and the server learns who each client is from the kernel.
bool local_server_messages() {
  const std::string path = fmt::format("/tmp/pipekit-tour-{}.sock", ::getpid());
  listen_options opts;
  opts.mode = local_mode::messages;
  local_server server = local_server::listen(path, opts);
  local_connection a = connect_local(path, local_mode::messages, after(std::chrono::seconds(5)));
  local_connection b = connect_local(path, local_mode::messages, after(std::chrono::seconds(5)));
  local_connection sa = server.accept(after(std::chrono::seconds(5)));
  local_connection sb = server.accept(after(std::chrono::seconds(5)));
  const std::string big(100 * 1024, 'x');
  a.send("from a");
  b.send(big);
  a.send("");
  const auto m1 = sa.recv(after(std::chrono::seconds(5)));
  const auto m2 = sb.recv(after(std::chrono::seconds(5)));
  const auto m3 = sa.recv(after(std::chrono::seconds(5)));
  if (!m1 || *m1 != "from a" || !m2 || *m2 != big || !m3 || !m3->empty())
    return fail("messages did not arrive whole and in order");
  const peer_credentials who = sa.peer();
  say("a Unix socket server in message mode (SOCK_SEQPACKET) at {}, file mode 0600", path);
  say("two clients at once: messages of 6 bytes, 100 KiB and 0 bytes arrived whole, boundaries kept");
  say("the server knows its peer from the kernel: pid {}, uid {}", who.pid.value_or(-1), who.uid.value_or(0));
  return true;
}

struct section {
  const char* title;
  bool (*run)();
};

constexpr std::array sections{
    section{"anonymous pipe", anonymous_pipe},
    section{"broken pipe", broken_pipe},
    section{"non-blocking read", nonblocking_read},
    section{"one poller, two children", poller_two_children},
    section{"a child's stdin and stdout: communicate()", communicate_with_cat},
    section{"timeout: terminating a process tree", timeout_kills_tree},
    section{"a program that does not exist", missing_program},
    section{"pseudo-terminal", pseudo_terminal},
    section{"local server: two clients, message boundaries", local_server_messages},
    section{"spawn rate", spawn_rate},
};

int run_tour() {
  struct utsname u {};
  const std::string machine =
      ::uname(&u) == 0 ? fmt::format("{} {} {}", u.sysname, u.release, u.machine) : std::string("this machine");
  fmt::print("pipekit {} tour on {}\n", pipekit::version, machine);
  const auto t0 = clock::now();
  int failed = 0;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    fmt::print("\n[{}/{}] {}\n", i + 1, sections.size(), sections[i].title);
    std::fflush(stdout);
    const auto s0 = clock::now();
    bool ok = false;
    try {
      ok = sections[i].run();
    } catch (const std::exception& e) {
      ok = fail("{}", e.what());
    }
    if (!ok) ++failed;
    fmt::print("    {} ({:.2f} s)\n", ok ? "ok" : "FAILED", seconds_since(s0));
    std::fflush(stdout);
  }
  fmt::print("\n{} of {} sections worked ({:.1f} s)\n", sections.size() - static_cast<std::size_t>(failed),
             sections.size(), seconds_since(t0));
  return failed == 0 ? 0 : exit_failure;
}

}  // namespace

void setup_tour(CLI::App& sub, command_context& ctx) {
  sub.callback([&ctx] { ctx.status = run_tour(); });
}

}  // namespace pipekit::cli
