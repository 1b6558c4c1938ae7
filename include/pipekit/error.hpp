// pipekit's error model.
//
// Every failure is a std::error_code. Operating-system failures keep their
// system_category code (so `ec == std::errc::broken_pipe` works); conditions
// that only pipekit knows about live in pipekit::errc below.
//
// Every blocking call comes in two forms:
//   std::size_t n = s.read_some(buf);        // throws std::system_error
//   std::size_t n = s.read_some(buf, ec);    // noexcept, sets ec
#pragma once

#include <string>
#include <system_error>

#include "pipekit/export.hpp"

namespace pipekit {

enum class errc {
  end_of_file = 1,      // the peer closed before the requested amount arrived
  exec_failed,          // a child could not be started (the cause is in the message)
  message_too_large,    // a peer announced a message above the configured maximum
  protocol_error,       // malformed framing or handshake
  not_supported,        // the operation has no meaning on this platform or object
  process_not_running,  // the process was already waited for
  invalid_argument,     // a pipekit precondition was violated (see the message)
  timed_out,            // a deadline passed; compares equal to std::errc::timed_out
  stale_registration,   // poller::add() of a number whose registered handle was closed without remove()
};

PIPEKIT_EXPORT const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

namespace detail {
// Builds a system_category code from an errno / GetLastError value.
inline std::error_code system_error_code(int native) noexcept { return {native, std::system_category()}; }
// Throws std::system_error when ec is set; what() is "<what>: <message>".
void throw_if(const std::error_code& ec, const char* what);
void throw_if(const std::error_code& ec, const std::string& what);
}  // namespace detail

}  // namespace pipekit

template <>
struct std::is_error_code_enum<pipekit::errc> : std::true_type {};
