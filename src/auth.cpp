// multiprocessing's HMAC challenge (see pipekit/auth.hpp for the contract).
// Portable: the channel carries the messages, sys/crypto.hpp computes the MACs.
#include "pipekit/auth.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "pipekit/error.hpp"
#include "sys/crypto.hpp"

namespace pipekit {
namespace {

constexpr std::string_view challenge_tag = "#CHALLENGE#";
constexpr std::string_view welcome = "#WELCOME#";
constexpr std::string_view failure = "#FAILURE#";
constexpr std::size_t challenge_length = 20;        // MESSAGE_LENGTH of Python <= 3.11
constexpr std::size_t max_handshake_message = 256;  // Python's recv_bytes(256)
// Python 3.12 treats unprefixed messages of these lengths as legacy HMAC-MD5.
constexpr std::size_t legacy_challenge_length = 20;
constexpr std::size_t md5_length = 16;

std::span<const std::byte> bytes(std::string_view s) noexcept { return std::as_bytes(std::span(s.data(), s.size())); }

// Splits a "{name}rest" message as Python 3.12's _get_digest_name_and_payload
// does. Returns the digest, or nullopt when the message has no known prefix.
// A digest this system cannot compute (SHA3 on older Windows) counts as
// unknown, so the peer is treated exactly as one sending a name we never heard of.
std::optional<detail::digest> split_prefix(std::string_view message, std::string_view& rest) {
  if (message.empty() || message.front() != '{') return std::nullopt;
  const auto close = message.find('}', 1);
  if (close == std::string_view::npos) return std::nullopt;
  const std::optional<detail::digest> d = detail::digest_by_name(message.substr(1, close - 1));
  if (!d || !detail::digest_available(*d)) return std::nullopt;
  rest = message.substr(close + 1);
  return d;
}

// One handshake message of at most 256 bytes. While the channel has nothing
// buffered, the frame is read straight from its stream, header first, so a
// peer that announces more costs nothing; the channel's framing stays intact
// because exactly one frame is consumed.
bool recv_small(channel& ch, std::string& out, deadline until, std::error_code& ec) {
  stream* in = ch.reader();
  if (in == nullptr) {
    ec = make_error_code(errc::not_supported);
    return false;
  }
  if (ch.buffered_incoming() != 0) {  // not a fresh channel: the channel has to frame it
    if (!ch.recv(out, until, ec)) {
      if (!ec) ec = make_error_code(errc::end_of_file);
      return false;
    }
  } else {
    std::array<std::byte, 4> header{};
    const std::size_t got = in->read_exact(header, until, ec);
    if (ec) {
      if (got != 0 && ec == errc::end_of_file) ec = make_error_code(errc::protocol_error);
      return false;
    }
    const auto length = static_cast<std::int32_t>(
        (std::to_integer<std::uint32_t>(header[0]) << 24) | (std::to_integer<std::uint32_t>(header[1]) << 16) |
        (std::to_integer<std::uint32_t>(header[2]) << 8) | std::to_integer<std::uint32_t>(header[3]));
    if (length < 0 || static_cast<std::size_t>(length) > max_handshake_message) {
      ec = make_error_code(errc::protocol_error);
      return false;
    }
    out.resize(static_cast<std::size_t>(length));
    (void)in->read_exact(std::as_writable_bytes(std::span(out.data(), out.size())), until, ec);
    if (ec) {
      if (ec == errc::end_of_file) ec = make_error_code(errc::protocol_error);  // payload cut off
      return false;
    }
  }
  if (out.size() > max_handshake_message) {
    ec = make_error_code(errc::protocol_error);
    return false;
  }
  return true;
}

void fail(channel& ch, std::error_code& ec, std::error_code reason) noexcept {
  ec = reason;
  std::error_code ignored;
  ch.close(ignored);
}

void deliver(channel& ch, std::span<const std::byte> key, deadline until, std::error_code& ec) {
  std::array<std::byte, challenge_length> random{};
  detail::random_bytes(random, ec);
  if (ec) return fail(ch, ec, ec);
  const std::string_view body(reinterpret_cast<const char*>(random.data()), random.size());
  std::string message;
  message.reserve(challenge_tag.size() + body.size());
  message.append(challenge_tag).append(body);
  ch.send(message, until, ec);
  if (ec) return fail(ch, ec, ec);

  std::string response;
  if (!recv_small(ch, response, until, ec)) return fail(ch, ec, ec);
  // A raw HMAC-MD5 (Python <= 3.11, and 3.12 answering a legacy challenge),
  // or "{name}" + HMAC-name (3.12 may choose a stronger digest).
  detail::digest md = detail::digest::md5;
  std::string_view mac = response;
  if (response.size() != md5_length) {
    std::string_view rest;
    const std::optional<detail::digest> d = split_prefix(response, rest);
    if (!d) {
      std::error_code ignored;
      ch.send(failure, until, ignored);
      return fail(ch, ec, make_error_code(errc::protocol_error));
    }
    md = *d;
    mac = rest;
  }
  std::string expected;
  if (!detail::hmac(md, key, bytes(body), expected, ec)) return fail(ch, ec, ec);
  if (!detail::equal_in_constant_time(bytes(expected), bytes(mac))) {
    std::error_code ignored;
    ch.send(failure, until, ignored);
    return fail(ch, ec, std::make_error_code(std::errc::permission_denied));
  }
  ch.send(welcome, until, ec);
  if (ec) return fail(ch, ec, ec);
}

void answer(channel& ch, std::span<const std::byte> key, deadline until, std::error_code& ec) {
  std::string message;
  if (!recv_small(ch, message, until, ec)) return fail(ch, ec, ec);
  if (!std::string_view(message).starts_with(challenge_tag)) return fail(ch, ec, make_error_code(errc::protocol_error));
  const std::string_view body = std::string_view(message).substr(challenge_tag.size());

  std::string reply;
  std::string_view payload;
  std::optional<detail::digest> d;
  if (body.size() != legacy_challenge_length && body.size() != md5_length) d = split_prefix(body, payload);
  if (!d) {
    // Python <= 3.11 answers any challenge with a raw HMAC-MD5.
    if (!detail::hmac(detail::digest::md5, key, bytes(body), reply, ec)) return fail(ch, ec, ec);
  } else {
    // 3.12: the MAC covers the whole body, prefix included, so a
    // man in the middle cannot downgrade the digest.
    std::string mac;
    if (!detail::hmac(*d, key, bytes(body), mac, ec)) return fail(ch, ec, ec);
    reply.append("{").append(detail::digest_name(*d)).append("}").append(mac);
  }
  ch.send(reply, until, ec);
  if (ec) return fail(ch, ec, ec);

  std::string verdict;
  if (!recv_small(ch, verdict, until, ec)) return fail(ch, ec, ec);
  if (verdict == welcome) return;
  if (verdict == failure) return fail(ch, ec, std::make_error_code(std::errc::permission_denied));
  fail(ch, ec, make_error_code(errc::protocol_error));
}

void throw_auth_error(const std::error_code& ec) {
  if (ec == std::errc::permission_denied) detail::throw_if(ec, "authentication failed (the keys differ)");
  detail::throw_if(ec, "authentication handshake");
}

}  // namespace

void deliver_challenge(channel& ch, std::span<const std::byte> authkey, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  try {
    deliver(ch, authkey, until, ec);
  } catch (const std::bad_alloc&) {
    fail(ch, ec, std::make_error_code(std::errc::not_enough_memory));
  }
}

void answer_challenge(channel& ch, std::span<const std::byte> authkey, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  try {
    answer(ch, authkey, until, ec);
  } catch (const std::bad_alloc&) {
    fail(ch, ec, std::make_error_code(std::errc::not_enough_memory));
  }
}

void authenticate_server(channel& ch, std::span<const std::byte> authkey, deadline until,
                         std::error_code& ec) noexcept {
  deliver_challenge(ch, authkey, until, ec);
  if (!ec) answer_challenge(ch, authkey, until, ec);
}

void authenticate_client(channel& ch, std::span<const std::byte> authkey, deadline until,
                         std::error_code& ec) noexcept {
  answer_challenge(ch, authkey, until, ec);
  if (!ec) deliver_challenge(ch, authkey, until, ec);
}

void deliver_challenge(channel& ch, std::span<const std::byte> authkey, deadline until) {
  std::error_code ec;
  deliver_challenge(ch, authkey, until, ec);
  if (ec) throw_auth_error(ec);
}

void answer_challenge(channel& ch, std::span<const std::byte> authkey, deadline until) {
  std::error_code ec;
  answer_challenge(ch, authkey, until, ec);
  if (ec) throw_auth_error(ec);
}

void authenticate_server(channel& ch, std::span<const std::byte> authkey, deadline until) {
  std::error_code ec;
  authenticate_server(ch, authkey, until, ec);
  if (ec) throw_auth_error(ec);
}

void authenticate_client(channel& ch, std::span<const std::byte> authkey, deadline until) {
  std::error_code ec;
  authenticate_client(ch, authkey, until, ec);
  if (ec) throw_auth_error(ec);
}

}  // namespace pipekit
