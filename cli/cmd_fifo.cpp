// pipekit fifo create|read|write PATH: FIFOs from the shell, with the checks
// of pipekit/fifo.hpp (no symbolic links, nothing but a FIFO, only our own)
// and timeouts instead of the endless block of `cat < fifo`.
//
//   pipekit fifo create PATH [--mode OCTAL]
//   pipekit fifo read PATH [--timeout S] [--keep-open]   FIFO to stdout
//   pipekit fifo write PATH [--timeout S]                stdin to the FIFO, one atomic write per line
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "cli.hpp"
#include "pipekit/error.hpp"
#include "pipekit/fifo.hpp"
#include "pipekit/pipe.hpp"

namespace pipekit::cli {

namespace {

struct fifo_cli_options {
  std::string path;
  std::string mode = "600";
  std::optional<double> timeout;
  bool keep_open = false;
  bool allow_other_owner = false;
};

deadline timeout_deadline(const fifo_cli_options& o) {
  return o.timeout ? after(std::chrono::duration<double>(*o.timeout)) : no_deadline;
}

int timed_out(const fifo_cli_options& o, const char* peer) {
  fmt::print(stderr, "pipekit: no {} opened {} within {} s\n", peer, o.path, *o.timeout);
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
    throw std::system_error(std::make_error_code(std::errc::io_error), "writing stdout");
}

// Copies `s` to stdout until its end; the first read waits until `first`.
int copy_out(stream& s, deadline first, const fifo_cli_options& o) {
  std::array<std::byte, 64 * 1024> buf{};
  for (bool waited = false;; waited = true) {
    std::error_code ec;
    const std::size_t n = waited ? s.read_some(buf, ec) : s.read_some(buf, first, ec);
    if (ec == errc::timed_out) return timed_out(o, "writer");
    if (ec) throw std::system_error(ec, "reading " + o.path);
    if (n == 0) return 0;
    write_stdout(std::span(buf).first(n));
  }
}

int read_fifo(const fifo_cli_options& o) {
  const fifo_options options{.allow_other_owner = o.allow_other_owner};
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

int write_fifo(const fifo_cli_options& o) {
  const fifo_options options{.allow_other_owner = o.allow_other_owner};
  handle_stream w;
  try {
    w = open_fifo_writer(o.path, timeout_deadline(o), options);
  } catch (const std::system_error& e) {
    if (e.code() == errc::timed_out) return timed_out(o, "reader");
    throw;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  for (std::uint64_t number = 1; std::getline(std::cin, line); ++number) {
    if (!std::cin.eof()) line.push_back('\n');
    if (line.size() > pipe_atomic_write_size())
      throw std::system_error(make_error_code(errc::message_too_large),
                              fmt::format("line {} is {} bytes, more than PIPE_BUF ({} bytes) can carry in one "
                                          "atomic write; neither it nor anything after it was written",
                                          number, line.size(), pipe_atomic_write_size()));
    write_record(w, line, true);
  }
  if (std::cin.bad()) throw std::system_error(std::make_error_code(std::errc::io_error), "reading stdin");
  return 0;
}

void add_path(CLI::App* sub, const std::shared_ptr<fifo_cli_options>& o) {
  sub->add_option("PATH", o->path, "The FIFO")->required();
}

void add_open_options(CLI::App* sub, const std::shared_ptr<fifo_cli_options>& o, const char* timeout_help) {
  sub->add_option("--timeout", o->timeout, timeout_help)->type_name("S")->check(CLI::NonNegativeNumber);
  sub->add_flag("--allow-other-owner", o->allow_other_owner, "Open a FIFO another user owns too");
}

}  // namespace

CLI::App* add_fifo(CLI::App& app, int& status) {
  CLI::App* fifo = app.add_subcommand("fifo", "Create, read or write a FIFO (named pipe)");
  fifo->require_subcommand(1);
  fifo->footer(
      "read and write refuse a symbolic link, anything but a FIFO, and a FIFO of another user (unless\n"
      "--allow-other-owner). Exit status 124: no peer opened the FIFO within --timeout.");

  auto co = std::make_shared<fifo_cli_options>();
  CLI::App* create_cmd = fifo->add_subcommand("create", "Create a FIFO with exactly --mode (the umask does not apply)");
  add_path(create_cmd, co);
  create_cmd->add_option("--mode", co->mode, "Permissions, in octal (default 600: owner only)")->type_name("OCTAL");
  create_cmd->callback([co, &status] {
    create_path(*co);
    status = 0;
  });

  auto ro = std::make_shared<fifo_cli_options>();
  CLI::App* read_cmd = fifo->add_subcommand("read", "Copy what writers send to the FIFO to stdout");
  add_path(read_cmd, ro);
  add_open_options(read_cmd, ro,
                   "Give up (exit 124) if no writer has written or come and gone within S seconds (with "
                   "--keep-open: until the first data)");
  read_cmd->add_flag("--keep-open", ro->keep_open,
                     "Stay open while writers come and go (never ends by itself: stop it with a signal)");
  read_cmd->callback([ro, &status] { status = read_fifo(*ro); });

  auto wo = std::make_shared<fifo_cli_options>();
  CLI::App* write_cmd = fifo->add_subcommand(
      "write", "Copy stdin to the FIFO, one atomic write per line; a line longer than PIPE_BUF is an error");
  add_path(write_cmd, wo);
  add_open_options(write_cmd, wo, "Give up (exit 124) if no reader opens the FIFO within S seconds");
  write_cmd->callback([wo, &status] { status = write_fifo(*wo); });
  return fifo;
}

}  // namespace pipekit::cli
