// pipekit msg send|recv ENDPOINT: lines in, messages out, and back — in the
// framing of Python's multiprocessing.connection, optionally authenticated
// with its HMAC challenge (--authkey). The endpoints are per platform (see
// msg_endpoint.hpp); a --timeout that passes while connecting, accepting or
// opening exits with status 124.
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
#include "msg_endpoint.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"

namespace pipekit::cli {

namespace {

// Opens the endpoint; nullopt (said on stderr) when --timeout passed first.
std::optional<channel> open_or_time_out(const msg_options& o, msg_direction d) {
  try {
    return open_msg_endpoint(o, d);
  } catch (const std::system_error& e) {
    if (e.code() != errc::timed_out) throw;
    fmt::print(stderr, "pipekit: {}\n", e.what());
    return std::nullopt;
  }
}

int send_lines(const msg_options& o) {
  std::optional<channel> opened = open_or_time_out(o, msg_direction::send);
  if (!opened) return exit_timed_out;
  channel& ch = *opened;
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) ch.send(line);
  if (std::cin.bad()) throw std::system_error(std::make_error_code(std::errc::io_error), "reading stdin");
  return 0;
}

int recv_messages(const msg_options& o) {
  std::optional<channel> opened = open_or_time_out(o, msg_direction::recv);
  if (!opened) return exit_timed_out;
  set_binary_stdout();
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
  sub->add_option("ENDPOINT", o->endpoint, msg_endpoint_list)->required();
  sub->add_option("--authkey", o->authkey,
                  "Authenticate with multiprocessing's HMAC challenge and this key (connect and listen endpoints)")
      ->type_name("KEY");
  sub->add_option("--timeout", o->timeout,
                  "Give up connecting, accepting or opening, and the handshake, after S seconds (exit status 124); "
                  "a client waits that long for the server to appear")
      ->type_name("S")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace

deadline msg_deadline(const msg_options& o) {
  if (!o.timeout) return no_deadline;
  return after(std::chrono::duration<double>(*o.timeout));
}

void msg_usage_error(const std::string& what) { throw CLI::ValidationError("ENDPOINT", what); }

CLI::App* add_msg(CLI::App& app, int& status) {
  CLI::App* msg = app.add_subcommand("msg", "Send or receive messages (Python multiprocessing.connection framing)");
  msg->require_subcommand(1);
  msg->footer(msg_endpoint_footer);

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
