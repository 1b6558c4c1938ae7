// pipekit msg send|recv ENDPOINT: lines in, messages out, and back — in the
// framing of Python's multiprocessing.connection, optionally authenticated
// with its HMAC challenge (--authkey).
//
// ENDPOINT:
//   unix:PATH         connect to a Unix stream socket (client role)
//   unix-listen:PATH  listen at PATH, accept one peer, stop listening (server role)
//   fd:N              a channel on inherited descriptor N (no handshake)
//   fifo:PATH         not yet (FIFOs are still to come)
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
#include "pipekit/local.hpp"

namespace pipekit::cli {

namespace {

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

// A channel to the peer ENDPOINT names, authenticated when a key is given.
channel open_endpoint(const msg_options& o) {
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
  if (e.starts_with("fifo:")) usage_error("fifo: endpoints are not available yet");
  usage_error(fmt::format("unknown endpoint '{}' (expected unix:PATH, unix-listen:PATH or fd:N)", e));
}

void send_lines(const msg_options& o) {
  channel ch = open_endpoint(o);
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) ch.send(line);
  if (std::cin.bad()) throw std::system_error(std::make_error_code(std::errc::io_error), "reading stdin");
}

void recv_messages(const msg_options& o) {
  channel ch = open_endpoint(o);
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
}

void add_common(CLI::App* sub, const std::shared_ptr<msg_options>& o) {
  sub->add_option("ENDPOINT", o->endpoint, "unix:PATH, unix-listen:PATH or fd:N")->required();
  sub->add_option("--authkey", o->authkey,
                  "Authenticate with multiprocessing's HMAC challenge and this key (unix: and unix-listen:)")
      ->type_name("KEY");
  sub->add_option("--timeout", o->timeout,
                  "Give up connecting or accepting, and the handshake, after S seconds (with unix:, wait that long "
                  "for the server to appear)")
      ->type_name("S")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace

CLI::App* add_msg(CLI::App& app, int& status) {
  CLI::App* msg = app.add_subcommand("msg", "Send or receive messages (Python multiprocessing.connection framing)");
  msg->require_subcommand(1);
  msg->footer(
      "ENDPOINT: unix:PATH (connect), unix-listen:PATH (accept one peer), fd:N (an inherited descriptor).\n"
      "With --authkey, unix-listen: challenges the peer as multiprocessing's Listener does and unix: answers as its\n"
      "Client does; a wrong key on either side fails with exit status 1.");

  auto so = std::make_shared<msg_options>();
  CLI::App* send = msg->add_subcommand("send", "Send each line of stdin (without its newline) as one message");
  add_common(send, so);
  send->callback([so, &status] {
    send_lines(*so);
    status = 0;
  });

  auto ro = std::make_shared<msg_options>();
  CLI::App* recv = msg->add_subcommand("recv", "Write each message received to stdout, followed by a newline");
  add_common(recv, ro);
  recv->add_option("--count", ro->count, "Stop after N messages (default: until the peer closes)")->type_name("N");
  recv->callback([ro, &status] {
    recv_messages(*ro);
    status = 0;
  });
  return msg;
}

}  // namespace pipekit::cli
