// The endpoints of `pipekit msg`: what each platform offers, behind one
// call. cli/msg_endpoints_posix.cpp: unix:, unix-listen:, fd:, fifo:;
// cli/msg_endpoints_windows.cpp: pipe:, pipe-listen:, handle:.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"

namespace pipekit::cli {

// Which way the subcommand moves messages (a one-way endpoint opens the
// matching end).
enum class msg_direction { send, recv };

struct msg_options {
  std::string endpoint;
  std::optional<std::string> authkey;
  std::optional<double> timeout;
  std::uint64_t count = 0;  // recv: 0 means until end of stream
};

deadline msg_deadline(const msg_options& o);

// A usage error about ENDPOINT (exit status 2).
[[noreturn]] void msg_usage_error(const std::string& what);

// A channel to the peer the endpoint names, authenticated when a key is
// given. Throws std::system_error (errc::timed_out when --timeout passed).
channel open_msg_endpoint(const msg_options& o, msg_direction d);

// Makes stdout write bytes as they are: recv's output is each payload and
// "\n", never "\r\n" (Windows' text mode would add the "\r").
void set_binary_stdout();

// Help texts: the endpoint list for ENDPOINT, and the footer of `msg`.
extern const char* const msg_endpoint_list;
extern const char* const msg_endpoint_footer;

}  // namespace pipekit::cli
