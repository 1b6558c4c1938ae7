// `pipekit msg` endpoints on POSIX:
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

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "common/msg_endpoint.hpp"
#include "pipekit/error.hpp"
#include "pipekit/fifo.hpp"
#include "pipekit/local.hpp"

namespace pipekit::cli {

const char* const msg_endpoint_list = "unix:PATH, unix-listen:PATH, fd:N or fifo:PATH";
const char* const msg_endpoint_footer =
    "ENDPOINT: unix:PATH (connect), unix-listen:PATH (accept one peer), fd:N (an inherited descriptor),\n"
    "fifo:PATH (send writes to the FIFO, recv reads from it).\n"
    "With --authkey, unix-listen: challenges the peer as multiprocessing's Listener does and unix: answers as its\n"
    "Client does; a wrong key on either side fails with exit status 1.\n"
    "fifo: creates a missing FIFO (mode 600, left in place) and refuses a symbolic link, anything but a FIFO and\n"
    "another user's FIFO; it waits for the other end as long as it takes, or --timeout DURATION (then exit status "
    "124);\n"
    "recv's wait ends once a writer has sent something or closed. No --authkey: a FIFO is one-way.";

bool msg_endpoint_authenticates(const std::string& endpoint) {
  return endpoint.starts_with("unix:") || endpoint.starts_with("unix-listen:");
}

namespace {

// fifo:PATH: the write end to send, the read end to receive.
channel open_fifo_endpoint(const msg_options& o, const std::string& path, msg_direction d) {
  if (o.authkey)
    msg_usage_error("--authkey needs a unix: or unix-listen: endpoint (a FIFO is one-way; the challenge needs both)");
  if (path.empty()) msg_usage_error("fifo: needs a PATH (fifo:PATH)");
  const fifo_options options{.mode = 0600, .create_if_missing = true};
  const deadline until = msg_deadline(o);
  const channel_options co = msg_channel_options(o);
  try {
    if (d == msg_direction::send)
      return channel(nullptr, std::make_unique<handle_stream>(open_fifo_writer(path, until, options)), co);
    return channel(std::make_unique<handle_stream>(open_fifo_reader(path, until, options)), nullptr, co);
  } catch (const std::system_error& e) {
    if (e.code() != errc::timed_out) throw;  // refused: the message names the path and the reason
    throw std::system_error(
        e.code(), fmt::format("no {} opened {} within {}", d == msg_direction::send ? "reader" : "writer", path,
                              describe_seconds(*o.timeout)));
  }
}

}  // namespace

channel open_msg_endpoint(const msg_options& o, msg_direction d) {
  const std::string_view e = o.endpoint;
  if (e.starts_with("unix:")) {
    // Without --timeout a missing server is an error at once (like socat);
    // with it, pipekit waits for the server to appear.
    return connect_msg_endpoint(std::string(e.substr(5)), o);
  }
  if (e.starts_with("unix-listen:"))
    return listen_msg_endpoint(std::string(e.substr(12)), o);  // the socket file goes away
  if (e.starts_with("fd:")) {
    if (o.authkey) msg_usage_error("--authkey needs a unix: or unix-listen: endpoint (who challenges first?)");
    const std::string number(e.substr(3));
    std::size_t used = 0;
    int fd = -1;
    try {
      fd = std::stoi(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != number.size() || fd < 0) msg_usage_error(fmt::format("bad descriptor in '{}'", e));
    return channel::from_inherited_fd(fd, msg_channel_options(o));
  }
  if (e.starts_with("fifo:")) return open_fifo_endpoint(o, std::string(e.substr(5)), d);
  msg_usage_error(fmt::format("unknown endpoint '{}' (expected unix:PATH, unix-listen:PATH, fd:N or fifo:PATH)", e));
}

}  // namespace pipekit::cli
