// The endpoints of `pipekit msg`: what each platform offers, behind one
// call. common/msg_endpoints_posix.cpp: unix:, unix-listen:, fd:, fifo:;
// common/msg_endpoints_windows.cpp: pipe:, pipe-listen:, handle:; what both
// share in common/msg_endpoint.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/numbers.hpp"
#include "common/records.hpp"
#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/local.hpp"

namespace pipekit::cli {

// Which way the subcommand moves messages (a one-way endpoint opens the
// matching end).
enum class msg_direction { send, recv };

struct msg_options {
  std::string endpoint;
  std::optional<std::string> authkey;  // the key, from --authkey, --authkey-file or PIPEKIT_AUTHKEY
  std::optional<seconds_d> timeout;
  std::optional<std::uint64_t> count;     // recv: stop after this many
  std::optional<std::uint64_t> max_size;  // both: the largest message (default: the library's)
  record_framing framing = record_framing::lines;
};

deadline msg_deadline(const msg_options& o);
// The channel options every endpoint uses (--max-size).
channel_options msg_channel_options(const msg_options& o);

// A usage error about ENDPOINT (exit status 2).
[[noreturn]] void msg_usage_error(const std::string& what);

// Whether the endpoint does multiprocessing's HMAC challenge with a key
// (PIPEKIT_AUTHKEY applies only to these; --authkey elsewhere is an error).
bool msg_endpoint_authenticates(const std::string& endpoint);

// A channel to the peer the endpoint names, authenticated when a key is
// given. Throws std::system_error (errc::timed_out when --timeout passed).
channel open_msg_endpoint(const msg_options& o, msg_direction d);

// What the connect and listen endpoints of both systems do with the local
// server API (pipekit/local.hpp): a client's channel to `name`, answering the
// HMAC challenge with --authkey; a server at `name` that accepts one peer
// (a timeout says nobody came, where, and how long we waited), stops
// listening, and challenges the peer with --authkey.
channel connect_msg_endpoint(const std::string& name, const msg_options& o);
channel listen_msg_endpoint(const std::string& name, const msg_options& o);

// Help texts: the endpoint list for ENDPOINT, and the footer of `msg`.
extern const char* const msg_endpoint_list;
extern const char* const msg_endpoint_footer;

}  // namespace pipekit::cli
