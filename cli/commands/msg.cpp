// pipekit msg send|recv ENDPOINT: records in, messages out, and back — in
// the framing of Python's multiprocessing.connection, optionally
// authenticated with its HMAC challenge (--authkey, --authkey-file or
// PIPEKIT_AUTHKEY). A record is a line by default, a NUL-terminated string
// with -0, a netstring with --netstring (common/records.hpp). The endpoints
// are per platform (see msg_endpoint.hpp); a --timeout that passes while
// connecting, accepting or opening exits with status 124.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "commands/commands.hpp"
#include "common/errors.hpp"
#include "common/msg_endpoint.hpp"
#include "common/options.hpp"
#include "common/platform.hpp"
#include "common/records.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/error.hpp"

namespace pipekit::cli {

namespace {

constexpr const char* authkey_variable = "PIPEKIT_AUTHKEY";

// What the parser fills in, before the key is looked up.
struct msg_arguments {
  msg_options o;
  std::optional<std::string> authkey;
  std::string authkey_file;
  bool null = false;
  bool netstring = false;
};

std::uint64_t max_size(const msg_options& o) { return o.max_size.value_or(default_max_message_size); }

std::string max_size_text(const msg_options& o) {
  return o.max_size ? fmt::format("--max-size ({})", format_bytes(*o.max_size))
                    : fmt::format("--max-size (default {})", format_bytes(default_max_message_size));
}

// "lines 1 to 3 were sent before it", "line 1 was ...", "no line was ...":
// what went through before record `n`.
std::string before(std::uint64_t n, const char* noun, const char* done) {
  if (n <= 1) return fmt::format("no {} was {} before it", noun, done);
  if (n == 2) return fmt::format("{} 1 was {} before it", noun, done);
  return fmt::format("{}s 1 to {} were {} before it", noun, n - 1, done);
}

// The whole file, less one trailing newline ("\n" or "\r\n"), as an editor
// or `echo secret > key` leaves it.
std::string read_key_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw CLI::ValidationError("--authkey-file",
                               fmt::format("cannot read '{}': {}", path, std::generic_category().message(errno)));
  std::string key;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) key.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw CLI::ValidationError("--authkey-file", fmt::format("cannot read '{}'", path));
  if (key.ends_with('\n')) key.pop_back();
  if (key.ends_with('\r')) key.pop_back();
  if (key.empty()) throw CLI::ValidationError("--authkey-file", fmt::format("'{}' holds no key", path));
  return key;
}

msg_options resolve(const msg_arguments& a) {
  msg_options o = a.o;
  if (a.null) o.framing = record_framing::nul;
  if (a.netstring) o.framing = record_framing::netstring;
  if (!a.authkey_file.empty()) {
    o.authkey = read_key_file(a.authkey_file);
  } else if (a.authkey) {
    o.authkey = a.authkey;
  } else if (const char* env = std::getenv(authkey_variable);
             env != nullptr && *env != '\0' && msg_endpoint_authenticates(o.endpoint)) {
    o.authkey = env;
  }
  return o;
}

// Opens the endpoint; nullopt (said on stderr) when --timeout passed first.
std::optional<channel> open_or_time_out(const msg_options& o, msg_direction d) {
  try {
    return open_msg_endpoint(o, d);
  } catch (const std::system_error& e) {
    if (e.code() != errc::timed_out) throw;
    print_error("{}", e.what());
    return std::nullopt;
  }
}

int send_records(const msg_options& o) {
  std::optional<channel> opened = open_or_time_out(o, msg_direction::send);
  if (!opened) return exit_timed_out;
  channel& ch = *opened;
  if (o.framing != record_framing::lines) set_binary_stdin();
  const char* noun = record_noun(o.framing);
  record_reader in(stdin, o.framing, max_size(o));
  std::string record;
  for (std::uint64_t n = 1;; ++n) {
    switch (in.next(record)) {
      case record_reader::result::end: return 0;
      case record_reader::result::record: break;
      case record_reader::result::too_large:
        if (o.framing == record_framing::netstring)
          print_error("{} {} announces {} bytes, more than {}: it and the rest of stdin were not sent; {}", noun, n,
                      in.announced_size(), max_size_text(o), before(n, noun, "sent"));
        else
          print_error("{} {} is longer than {}: it and the rest of stdin were not sent; {}", noun, n, max_size_text(o),
                      before(n, noun, "sent"));
        return exit_failure;
      case record_reader::result::malformed:
        print_error("{} {} is not a netstring (LEN:PAYLOAD,): {}; it and the rest of stdin were not sent; {}", noun, n,
                    in.detail(), before(n, noun, "sent"));
        return exit_failure;
      case record_reader::result::io_error:
        print_error("cannot read stdin at {} {}: {}; {}", noun, n, std::generic_category().message(errno),
                    before(n, noun, "sent"));
        return exit_failure;
    }
    std::error_code ec;
    ch.send(record, no_deadline, ec);
    if (ec) {
      print_error("cannot send {} {}: {}", noun, n, ec.message());
      return exit_failure;
    }
  }
}

bool write_stdout(std::string_view data) { return std::fwrite(data.data(), 1, data.size(), stdout) == data.size(); }

int recv_messages(const msg_options& o) {
  std::optional<channel> opened = open_or_time_out(o, msg_direction::recv);
  if (!opened) return exit_timed_out;
  set_binary_stdout();
  channel& ch = *opened;
  std::string m;
  const char suffix = record_suffix(o.framing);
  for (std::uint64_t n = 1; !o.count || n <= *o.count; ++n) {
    std::error_code ec;
    if (!ch.recv(m, no_deadline, ec)) {
      if (ec == errc::message_too_large)
        print_error("message {} is larger than {}; {}", n, max_size_text(o), before(n, "message", "written"));
      else if (ec) print_error("cannot receive message {}: {}; {}", n, ec.message(), before(n, "message", "written"));
      else if (o.count) print_error("the peer closed after {} of {} messages", n - 1, *o.count);
      return ec || o.count ? exit_failure : 0;
    }
    if (o.framing == record_framing::nul && m.find('\0') != std::string::npos) {
      print_error("message {} contains a NUL byte, which -0 cannot separate (use --netstring); {}", n,
                  before(n, "message", "written"));
      return exit_failure;
    }
    if (!write_stdout(record_prefix(m.size(), o.framing)) || !write_stdout(m) || std::fputc(suffix, stdout) == EOF ||
        std::fflush(stdout) != 0) {
      print_error("cannot write message {} to stdout: {}", n, std::generic_category().message(errno));
      return exit_failure;
    }
  }
  return 0;
}

void add_common(CLI::App* sub, const std::shared_ptr<msg_arguments>& a, msg_direction d) {
  sub->add_option("ENDPOINT", a->o.endpoint, msg_endpoint_list)->required();
  CLI::Option* key = sub->add_option("--authkey", a->authkey,
                                     "Authenticate with multiprocessing's HMAC challenge and this key (connect and "
                                     "listen endpoints). Visible to other users in ps: prefer --authkey-file or "
                                     "PIPEKIT_AUTHKEY")
                         ->type_name("KEY");
  sub->add_option("--authkey-file", a->authkey_file, "The key is this file's content, less one trailing newline")
      ->type_name("FILE")
      ->excludes(key);
  add_duration_option(sub, "--timeout", a->o.timeout,
                      "Give up connecting, accepting or opening, and the handshake, after DURATION (exit status "
                      "124); a client waits that long for the server to appear");
  add_size_option(sub, "--max-size", a->o.max_size,
                  fmt::format("The largest message, in bytes (default {}; 64K, 16M and 1G also work); the same "
                              "limit for send and recv",
                              format_bytes(default_max_message_size)));
  const bool in = d == msg_direction::send;
  CLI::Option* null = sub->add_flag("-0,--null", a->null,
                                    in ? "Stdin holds NUL-terminated records instead of lines (as xargs -0)"
                                       : "End each message with a NUL byte instead of a newline (as find -print0)");
  sub->add_flag("--netstring", a->netstring,
                in ? "Stdin holds netstrings (LEN:PAYLOAD,): any bytes, newlines and NULs included"
                   : "Write each message as a netstring, LEN:PAYLOAD, (length-prefixed: nothing is ambiguous)")
      ->excludes(null);
}

}  // namespace

void setup_msg(CLI::App& app, command_context& ctx) {
  CLI::App* msg = &app;
  msg->require_subcommand(1);
  msg->footer(std::string(msg_endpoint_footer) +
              "\n\nRecords: a line by default (a message holding a newline then reads as two lines: use -0 or\n"
              "--netstring), a NUL-terminated string with -0, a netstring (\"5:hello,\") with --netstring.\n"
              "Keys: --authkey KEY, --authkey-file FILE, or the PIPEKIT_AUTHKEY environment variable, which\n"
              "the endpoints that authenticate use when it is set and not empty (the others ignore it).\n"
              "A message larger than --max-size stops send before any of it goes out and stops recv; both\n"
              "say which one it was and how many went through before it (exit status 1).");

  auto sa = std::make_shared<msg_arguments>();
  CLI::App* send = msg->add_subcommand(
      "send", "Send each line of stdin (without its newline) as one message (-0, --netstring: other records)");
  add_common(send, sa, msg_direction::send);
  send->callback([sa, &ctx] { ctx.status = send_records(resolve(*sa)); });

  auto ra = std::make_shared<msg_arguments>();
  CLI::App* recv = msg->add_subcommand(
      "recv", "Write each message received to stdout, followed by a newline (-0: a NUL; --netstring: as netstrings)");
  add_common(recv, ra, msg_direction::recv);
  add_count_option(recv, "--count", ra->o.count, 1, "Stop after N messages (default: until the peer closes)");
  recv->callback([ra, &ctx] { ctx.status = recv_messages(resolve(*ra)); });
}

}  // namespace pipekit::cli
