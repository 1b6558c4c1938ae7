// pipekit msg send|recv ENDPOINT: lines in, messages out, and back — in the
// framing of Python's multiprocessing.connection, optionally authenticated
// with its HMAC challenge (--authkey).
//
// ENDPOINT:
//   unix:PATH         connect to a Unix stream socket (client role)
//   unix-listen:PATH  listen at PATH, accept one peer, stop listening (server role)
//   fd:N              a channel on inherited descriptor N (no handshake)
//   fifo:PATH         one end of the FIFO at PATH: send opens its write end,
//                     recv its read end (a FIFO carries one direction; a
//                     conversation needs two FIFOs and two commands)
//
// fifo:PATH creates a missing PATH first, as mkfifo would but owner-only
// (0600 whatever the umask), like socat's PIPE: address; the FIFO stays when
// pipekit exits, for the next writer or reader. Whatever is already at PATH
// goes through the checks of `pipekit fifo` (pipekit/fifo.hpp): a symbolic
// link, anything but a FIFO and another user's FIFO are refused (exit status
// 1, the path in the message). The open waits for the other end as a FIFO's
// open does: without --timeout for as long as it takes, with it up to S
// seconds, then exit status 124 (as `pipekit fifo read|write`). recv's open
// returns once a writer has sent something or come and gone. --authkey is a
// usage error: the HMAC challenge needs both directions.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "cli.hpp"
#include "pipekit/auth.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"
#include "pipekit/fifo.hpp"
#include "pipekit/local.hpp"

namespace pipekit::cli {

namespace {

// A FIFO is one-way: which end of it the subcommand opens.
enum class direction { send, recv };

struct msg_options {
  std::string endpoint;
  std::optional<std::string> authkey;
  std::optional<double> timeout;
  std::uint64_t count = 0;  // recv: 0 means until end of stream
};

deadline setup_deadline(const msg_options& o) {
  if (!o.timeout) return no_deadline;
  return after(std::chrono::duration<double>(*o.timeout));
}

[[noreturn]] void usage_error(const std::string& what) { throw CLI::ValidationError("ENDPOINT", what); }

// fifo:PATH: the write end to send, the read end to receive. nullopt when no
// peer came within --timeout (said on stderr).
std::optional<channel> open_fifo_endpoint(const msg_options& o, const std::string& path, direction d) {
  if (o.authkey)
    usage_error("--authkey needs a unix: or unix-listen: endpoint (a FIFO is one-way; the challenge needs both)");
  if (path.empty()) usage_error("fifo: needs a PATH (fifo:PATH)");
  const fifo_options options{.mode = 0600, .create_if_missing = true};
  const deadline until = setup_deadline(o);
  try {
    if (d == direction::send)
      return channel(nullptr, std::make_unique<handle_stream>(open_fifo_writer(path, until, options)));
    return channel(std::make_unique<handle_stream>(open_fifo_reader(path, until, options)), nullptr);
  } catch (const std::system_error& e) {
    if (e.code() != errc::timed_out) throw;  // refused: the message names the path and the reason
  }
  fmt::print(stderr, "pipekit: no {} opened {} within {} s\n", d == direction::send ? "reader" : "writer", path,
             *o.timeout);
  return std::nullopt;
}

// A channel to the peer ENDPOINT names, authenticated when a key is given;
// nullopt when a fifo: peer did not come within --timeout.
std::optional<channel> open_endpoint(const msg_options& o, direction d) {
  const std::string_view e = o.endpoint;
  const deadline until = setup_deadline(o);
  const auto key = [&] { return as_key(*o.authkey); };
  if (e.starts_with("unix:")) {
    const std::string path(e.substr(5));
    // Without --timeout a missing server is an error at once (like socat);
    // with it, pipekit waits for the server to appear.
    local_connection c = connect_local(path, local_mode::bytes, until);
    channel ch(handle_stream(c.release_handle()));
    if (o.authkey) authenticate_client(ch, key(), until);
    return ch;
  }
  if (e.starts_with("unix-listen:")) {
    const std::string path(e.substr(12));
    local_server server = local_server::listen(path);
    local_connection c = server.accept(until);
    server.close();  // one peer; the socket file goes away
    channel ch(handle_stream(c.release_handle()));
    if (o.authkey) authenticate_server(ch, key(), until);
    return ch;
  }
  if (e.starts_with("fd:")) {
    if (o.authkey) usage_error("--authkey needs a unix: or unix-listen: endpoint (who challenges first?)");
    const std::string number(e.substr(3));
    std::size_t used = 0;
    int fd = -1;
    try {
      fd = std::stoi(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != number.size() || fd < 0) usage_error(fmt::format("bad descriptor in '{}'", e));
    return channel::from_inherited_fd(fd);
  }
  if (e.starts_with("fifo:")) return open_fifo_endpoint(o, std::string(e.substr(5)), d);
  usage_error(fmt::format("unknown endpoint '{}' (expected unix:PATH, unix-listen:PATH, fd:N or fifo:PATH)", e));
}

int send_lines(const msg_options& o) {
  std::optional<channel> opened = open_endpoint(o, direction::send);
  if (!opened) return exit_timed_out;
  channel& ch = *opened;
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) ch.send(line);
  if (std::cin.bad()) throw std::system_error(std::make_error_code(std::errc::io_error), "reading stdin");
  return 0;
}

int recv_messages(const msg_options& o) {
  std::optional<channel> opened = open_endpoint(o, direction::recv);
  if (!opened) return exit_timed_out;
  channel& ch = *opened;
  std::string m;
  std::uint64_t got = 0;
  while (o.count == 0 || got < o.count) {
    if (!ch.recv(m)) {
      if (o.count != 0)
        throw std::system_error(make_error_code(errc::end_of_file),
                                fmt::format("the peer closed after {} of {} messages", got, o.count));
      break;
    }
    ++got;
    m.push_back('\n');
    if (std::fwrite(m.data(), 1, m.size(), stdout) != m.size() || std::fflush(stdout) != 0)
      throw std::system_error(std::make_error_code(std::errc::io_error), "writing stdout");
  }
  return 0;
}

void add_common(CLI::App* sub, const std::shared_ptr<msg_options>& o) {
  sub->add_option("ENDPOINT", o->endpoint, "unix:PATH, unix-listen:PATH, fd:N or fifo:PATH")->required();
  sub->add_option("--authkey", o->authkey,
                  "Authenticate with multiprocessing's HMAC challenge and this key (unix: and unix-listen:)")
      ->type_name("KEY");
  sub->add_option("--timeout", o->timeout,
                  "Give up connecting or accepting, and the handshake, after S seconds (with unix:, wait that long "
                  "for the server to appear; with fifo:, exit 124 if no peer opened the FIFO by then)")
      ->type_name("S")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace

CLI::App* add_msg(CLI::App& app, int& status) {
  CLI::App* msg = app.add_subcommand("msg", "Send or receive messages (Python multiprocessing.connection framing)");
  msg->require_subcommand(1);
  msg->footer(
      "ENDPOINT: unix:PATH (connect), unix-listen:PATH (accept one peer), fd:N (an inherited descriptor),\n"
      "fifo:PATH (send writes to the FIFO, recv reads from it).\n"
      "With --authkey, unix-listen: challenges the peer as multiprocessing's Listener does and unix: answers as its\n"
      "Client does; a wrong key on either side fails with exit status 1.\n"
      "fifo: creates a missing FIFO (mode 600, left in place) and refuses a symbolic link, anything but a FIFO and\n"
      "another user's FIFO; it waits for the other end as long as it takes, or --timeout S (then exit status 124);\n"
      "recv's wait ends once a writer has sent something or closed. No --authkey: a FIFO is one-way.");

  auto so = std::make_shared<msg_options>();
  CLI::App* send = msg->add_subcommand("send", "Send each line of stdin (without its newline) as one message");
  add_common(send, so);
  send->callback([so, &status] { status = send_lines(*so); });

  auto ro = std::make_shared<msg_options>();
  CLI::App* recv = msg->add_subcommand("recv", "Write each message received to stdout, followed by a newline");
  add_common(recv, ro);
  recv->add_option("--count", ro->count, "Stop after N messages (default: until the peer closes)")->type_name("N");
  recv->callback([ro, &status] { status = recv_messages(*ro); });
  return msg;
}

}  // namespace pipekit::cli
