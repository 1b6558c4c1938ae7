// `pipekit msg` endpoints on Windows:
//   pipe:NAME         connect to the named pipe \\.\pipe\NAME (client role)
//   pipe-listen:NAME  create \\.\pipe\NAME, accept one peer, stop listening
//                     (server role); current user only, local clients only
//   handle:N          a channel on inherited handle value N (no handshake)
// A full name (\\.\pipe\NAME or \\server\pipe\NAME) is used as given.
// Python's multiprocessing.connection.Client(r'\\.\pipe\NAME') and
// Listener(r'\\.\pipe\NAME') speak to these (byte-mode pipes, the same
// framing and HMAC challenge).
#include <fmt/core.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

#include "common/msg_endpoint.hpp"
#include "pipekit/error.hpp"
#include "pipekit/local.hpp"

namespace pipekit::cli {

const char* const msg_endpoint_list = "pipe:NAME, pipe-listen:NAME or handle:N";
const char* const msg_endpoint_footer =
    "ENDPOINT: pipe:NAME (connect to \\\\.\\pipe\\NAME), pipe-listen:NAME (create it, accept one peer),\n"
    "handle:N (an inherited handle value).\n"
    "With --authkey, pipe-listen: challenges the peer as multiprocessing's Listener does and pipe: answers as its\n"
    "Client does; a wrong key on either side fails with exit status 1.";

bool msg_endpoint_authenticates(const std::string& endpoint) {
  return endpoint.starts_with("pipe:") || endpoint.starts_with("pipe-listen:");
}

channel open_msg_endpoint(const msg_options& o, msg_direction) {
  const std::string_view e = o.endpoint;
  if (e.starts_with("pipe:")) return connect_msg_endpoint(std::string(e.substr(5)), o);
  if (e.starts_with("pipe-listen:")) return listen_msg_endpoint(std::string(e.substr(12)), o);
  if (e.starts_with("handle:")) {
    if (o.authkey) msg_usage_error("--authkey needs a pipe: or pipe-listen: endpoint (who challenges first?)");
    const std::string number(e.substr(7));
    std::size_t used = 0;
    unsigned long long value = 0;
    try {
      value = std::stoull(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != number.size() || value == 0) msg_usage_error(fmt::format("bad handle in '{}'", e));
    return channel::from_inherited_fd(reinterpret_cast<native_handle_type>(static_cast<std::uintptr_t>(value)),
                                      msg_channel_options(o));
  }
  msg_usage_error(fmt::format("unknown endpoint '{}' (expected pipe:NAME, pipe-listen:NAME or handle:N)", e));
}

}  // namespace pipekit::cli
