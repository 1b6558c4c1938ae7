// pipekit fifo create|read|write PATH: FIFOs from the shell, with the checks
// of pipekit/fifo.hpp (no symbolic links, nothing but a FIFO, only our own)
// and timeouts instead of the endless block of `cat < fifo`.
//
//   pipekit fifo create PATH [--mode OCTAL]
//   pipekit fifo read PATH [--timeout DURATION] [--keep-open]   FIFO to stdout
//   pipekit fifo write PATH [--timeout DURATION] [--stream]     stdin to the FIFO, one atomic write per line
//
// read and write create a missing PATH first (owner only, left in place),
// as `pipekit msg ... fifo:PATH` does.
#include "pipekit/fifo.hpp"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "commands/commands.hpp"
#include "common/errors.hpp"
#include "common/options.hpp"
#include "pipekit/error.hpp"
#include "pipekit/pipe.hpp"

namespace pipekit::cli {

namespace {

struct fifo_cli_options {
  std::string path;
  std::string mode = "600";
  std::optional<seconds_d> timeout;
  bool keep_open = false;
  bool allow_other_owner = false;
  bool stream = false;
};

fifo_options open_options(const fifo_cli_options& o) {
  return fifo_options{.mode = 0600, .create_if_missing = true, .allow_other_owner = o.allow_other_owner};
}

deadline timeout_deadline(const fifo_cli_options& o) {
  if (!o.timeout) return no_deadline;
  return o.timeout->count() >= 1e9 ? no_deadline : after(*o.timeout);
}

int timed_out(const fifo_cli_options& o, const char* peer) {
  print_error("no {} opened {} within {}", peer, o.path, describe_seconds(*o.timeout));
  return exit_timed_out;
}

void create_path(const fifo_cli_options& o) {
  std::size_t used = 0;
  unsigned long mode = 0;
  try {
    mode = std::stoul(o.mode, &used, 8);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != o.mode.size() || mode > 07777)
    throw CLI::ValidationError("--mode", fmt::format("'{}' is not an octal mode (0 to 7777)", o.mode));
  create_fifo(o.path, static_cast<unsigned>(mode));
}

void write_stdout(std::span<const std::byte> data) {
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0)
    throw std::system_error(std::make_error_code(std::errc::io_error), "cannot write stdout");
}

// Copies `s` to stdout until its end; the first read waits until `first`.
int copy_out(stream& s, deadline first, const fifo_cli_options& o) {
  std::array<std::byte, 64 * 1024> buf{};
  for (bool waited = false;; waited = true) {
    std::error_code ec;
    const std::size_t n = waited ? s.read_some(buf, ec) : s.read_some(buf, first, ec);
    if (ec == errc::timed_out) return timed_out(o, "writer");
    if (ec) throw std::system_error(ec, "cannot read FIFO " + o.path);
    if (n == 0) return 0;
    write_stdout(std::span(buf).first(n));
  }
}

int read_fifo(const fifo_cli_options& o) {
  const fifo_options options = open_options(o);
  const deadline until = timeout_deadline(o);
  if (o.keep_open) {
    // Stays open across writers: ends only when killed.
    fifo_reader r = fifo_reader::open(o.path, options);
    return copy_out(r, until, o);
  }
  handle_stream r;
  try {
    r = open_fifo_reader(o.path, until, options);
  } catch (const std::system_error& e) {
    if (e.code() == errc::timed_out) return timed_out(o, "writer");
    throw;
  }
  return copy_out(r, no_deadline, o);
}

[[noreturn]] void write_failed(const fifo_cli_options& o, const std::error_code& ec, const std::string& what) {
  throw std::system_error(ec, fmt::format("cannot write {} to FIFO {}", what, o.path));
}

// --stream: the bytes as they come, in writes of any size.
int copy_in(handle_stream& w, const fifo_cli_options& o) {
  std::array<char, 64 * 1024> buf{};
  std::uint64_t done = 0;
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), stdin)) > 0; done += n) {
    std::error_code ec;
    w.write_all(std::as_bytes(std::span(buf).first(n)), ec);
    if (ec) write_failed(o, ec, fmt::format("stdin after {} bytes", done));
  }
  if (std::ferror(stdin) != 0) throw std::system_error(errno, std::generic_category(), "cannot read stdin");
  return 0;
}

// Lines: each in one atomic write. A line longer than PIPE_BUF cannot be;
// it is written all the same, in several writes (so another writer's lines
// may land inside it), and the warning names it: nothing is dropped.
int copy_lines(handle_stream& w, const fifo_cli_options& o) {
  std::ios::sync_with_stdio(false);
  std::string line;
  for (std::uint64_t number = 1; std::getline(std::cin, line); ++number) {
    if (!std::cin.eof()) line.push_back('\n');
    const bool atomic = line.size() <= pipe_atomic_write_size();
    if (!atomic)
      print_error(
          "warning: line {} is {} bytes, more than PIPE_BUF ({} bytes) can carry in one atomic "
          "write: written in several writes, which other writers' data may interleave\n",
          number, line.size(), pipe_atomic_write_size());
    std::error_code ec;
    (void)write_record(w, std::as_bytes(std::span(line)), atomic, ec);
    if (ec) write_failed(o, ec, fmt::format("line {}", number));
  }
  if (std::cin.bad()) throw std::system_error(std::make_error_code(std::errc::io_error), "cannot read stdin");
  return 0;
}

int write_fifo(const fifo_cli_options& o) {
  handle_stream w;
  try {
    w = open_fifo_writer(o.path, timeout_deadline(o), open_options(o));
  } catch (const std::system_error& e) {
    if (e.code() == errc::timed_out) return timed_out(o, "reader");
    throw;
  }
  return o.stream ? copy_in(w, o) : copy_lines(w, o);
}

void add_path(CLI::App* sub, const std::shared_ptr<fifo_cli_options>& o) {
  sub->add_option("PATH", o->path, "The FIFO")->required();
}

void add_open_options(CLI::App* sub, const std::shared_ptr<fifo_cli_options>& o, const std::string& timeout_help) {
  add_duration_option(sub, "--timeout", o->timeout, timeout_help);
  sub->add_flag("--allow-other-owner", o->allow_other_owner, "Open a FIFO another user owns too");
}

}  // namespace

void setup_fifo(CLI::App& app, command_context& ctx) {
  CLI::App* fifo = &app;
  fifo->require_subcommand(1);
  fifo->footer(
      "read and write create a missing FIFO (mode 600, left in place), and refuse a symbolic link, anything\n"
      "but a FIFO, and a FIFO of another user (unless --allow-other-owner). Exit status 124: no peer opened\n"
      "the FIFO within --timeout. DURATION: seconds (1.5) or 500ms, 2s, 1m, 1h, 1d.");

  auto co = std::make_shared<fifo_cli_options>();
  CLI::App* create_cmd = fifo->add_subcommand("create", "Create a FIFO with exactly --mode (the umask does not apply)");
  add_path(create_cmd, co);
  create_cmd->add_option("--mode", co->mode, "Permissions, in octal (default 600: owner only)")->type_name("OCTAL");
  create_cmd->callback([co, &ctx] {
    create_path(*co);
    ctx.status = 0;
  });

  auto ro = std::make_shared<fifo_cli_options>();
  CLI::App* read_cmd = fifo->add_subcommand("read", "Copy what writers send to the FIFO to stdout");
  add_path(read_cmd, ro);
  add_open_options(read_cmd, ro,
                   "Give up (exit 124) if no writer has written or come and gone within DURATION (with "
                   "--keep-open: until the first data)");
  read_cmd->add_flag("--keep-open", ro->keep_open,
                     "Stay open while writers come and go (never ends by itself: stop it with a signal)");
  read_cmd->callback([ro, &ctx] { ctx.status = read_fifo(*ro); });

  auto wo = std::make_shared<fifo_cli_options>();
  CLI::App* write_cmd = fifo->add_subcommand(
      "write",
      "Copy stdin to the FIFO, one atomic write per line (a line longer than PIPE_BUF is written in parts, with "
      "a warning)");
  add_path(write_cmd, wo);
  add_open_options(write_cmd, wo, "Give up (exit 124) if no reader opens the FIFO within DURATION");
  write_cmd->add_flag("--stream", wo->stream,
                      "Copy stdin as plain bytes, in writes of any size (binary data; no atomic lines)");
  write_cmd->callback([wo, &ctx] { ctx.status = write_fifo(*wo); });
}

}  // namespace pipekit::cli
