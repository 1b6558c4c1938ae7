// What the endpoints of every platform share.
#include "common/msg_endpoint.hpp"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <system_error>

#include "pipekit/auth.hpp"
#include "pipekit/error.hpp"

namespace pipekit::cli {

deadline msg_deadline(const msg_options& o) {
  if (!o.timeout) return no_deadline;
  return o.timeout->count() >= 1e9 ? no_deadline : after(*o.timeout);
}

channel_options msg_channel_options(const msg_options& o) {
  channel_options c;
  c.max_message_size = o.max_size.value_or(default_max_message_size);
  return c;
}

void msg_usage_error(const std::string& what) { throw CLI::ValidationError("ENDPOINT", what); }

namespace {

local_connection accept_one(local_server& server, const std::string& where, const msg_options& o) {
  try {
    return server.accept(msg_deadline(o));
  } catch (const std::system_error& e) {
    if (e.code() != errc::timed_out) throw;
    throw std::system_error(e.code(),
                            fmt::format("no client connected to {} within {}", where, describe_seconds(*o.timeout)));
  }
}

}  // namespace

channel connect_msg_endpoint(const std::string& name, const msg_options& o) {
  const deadline until = msg_deadline(o);
  local_connection c = connect_local(name, local_mode::bytes, until);
  channel ch(handle_stream(c.release_handle()), msg_channel_options(o));
  if (o.authkey) authenticate_client(ch, as_key(*o.authkey), until);
  return ch;
}

channel listen_msg_endpoint(const std::string& name, const msg_options& o) {
  const deadline until = msg_deadline(o);
  local_server server = local_server::listen(name);
  local_connection c = accept_one(server, name, o);
  server.close();  // one peer
  channel ch(handle_stream(c.release_handle()), msg_channel_options(o));
  if (o.authkey) authenticate_server(ch, as_key(*o.authkey), until);
  return ch;
}

}  // namespace pipekit::cli
