// Authentication of a channel with a shared key: the HMAC challenge of
// Python's multiprocessing.connection, so that
//   multiprocessing.connection.Client(address, authkey=KEY)
// connects to a pipekit server, and a pipekit client to a Python
// multiprocessing.connection.Listener(address, authkey=KEY).
//
//   // server: accept, then authenticate before trusting anything received
//   pipekit::local_connection c = server.accept(pipekit::after(5s));
//   pipekit::channel ch(pipekit::handle_stream(c.release_handle()));
//   pipekit::authenticate_server(ch, pipekit::as_key("secret"), pipekit::after(5s));
//   // client
//   pipekit::channel ch(pipekit::handle_stream(pipekit::connect_local(path).release_handle()));
//   pipekit::authenticate_client(ch, pipekit::as_key("secret"), pipekit::after(5s));
//
// The exchange (each step one channel message):
//   deliver_challenge: send "#CHALLENGE#" + 20 random bytes; receive the
//     peer's HMAC-MD5(key, those 20 bytes); send "#WELCOME#" if it matches,
//     else "#FAILURE#" and fail.
//   answer_challenge: receive "#CHALLENGE#" + body; send HMAC(key, body);
//     receive "#WELCOME#" or fail.
// A server delivers then answers; a client answers then delivers (the order
// of Listener.accept() and Client()), so each side proves it knows the key.
//
// Versions: pipekit sends the challenge Python 3.11 and older send (20 bytes,
// HMAC-MD5); Python 3.12+ answers it in kind. Answering, pipekit also accepts
// the challenge of Python 3.12+ ("{sha256}" + 40 bytes; also md5, sha384,
// sha3_256, sha3_384) and replies "{name}" + HMAC over the whole body, as
// 3.12 does; and it accepts such a prefixed reply to its own challenge.
//
// Errors (throwing form: std::system_error; the other form sets ec):
// - The keys differ (our check failed, or the peer sent "#FAILURE#"):
//   std::errc::permission_denied; the throwing form says
//   "authentication failed".
// - A handshake message that is not what the protocol allows (no
//   "#CHALLENGE#", a reply of the wrong form, anything longer than 256 bytes,
//   an unknown digest): errc::protocol_error. An incoming message is never
//   allowed more than 256 bytes of memory, whatever the channel's
//   max_message_size (the header is checked before the payload is read).
// - The peer closed during the handshake: errc::end_of_file.
// - The deadline passed: errc::timed_out. Any channel error is passed on.
// After any error the channel is closed: its state mid-handshake is unknown,
// and nothing an unauthenticated peer sent may be read as a message.
//
// The channel must be fresh (nothing received yet) and must not be used by
// other threads during the handshake. The key is any byte string (Python
// wants bytes); it is not copied or kept.
//
// What this does not do: encrypt. As in Python, the key proves who connects;
// the messages that follow travel in clear (on a local socket the system
// protects them from other users; use permissions too).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>

#include "pipekit/channel.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/export.hpp"

namespace pipekit {

// The bytes of a text key, for the calls below.
[[nodiscard]] inline std::span<const std::byte> as_key(std::string_view text) noexcept {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// One step each (see the exchange above).
PIPEKIT_EXPORT void deliver_challenge(channel& ch, std::span<const std::byte> authkey, deadline until = no_deadline);
PIPEKIT_EXPORT void deliver_challenge(channel& ch, std::span<const std::byte> authkey, deadline until,
                                      std::error_code& ec) noexcept;
PIPEKIT_EXPORT void answer_challenge(channel& ch, std::span<const std::byte> authkey, deadline until = no_deadline);
PIPEKIT_EXPORT void answer_challenge(channel& ch, std::span<const std::byte> authkey, deadline until,
                                     std::error_code& ec) noexcept;

// Both steps in the order of multiprocessing's Listener.accept() (deliver,
// then answer) and Client() (answer, then deliver).
PIPEKIT_EXPORT void authenticate_server(channel& ch, std::span<const std::byte> authkey, deadline until = no_deadline);
PIPEKIT_EXPORT void authenticate_server(channel& ch, std::span<const std::byte> authkey, deadline until,
                                        std::error_code& ec) noexcept;
PIPEKIT_EXPORT void authenticate_client(channel& ch, std::span<const std::byte> authkey, deadline until = no_deadline);
PIPEKIT_EXPORT void authenticate_client(channel& ch, std::span<const std::byte> authkey, deadline until,
                                        std::error_code& ec) noexcept;

}  // namespace pipekit
