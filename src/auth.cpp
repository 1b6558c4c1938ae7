// multiprocessing's HMAC challenge (see pipekit/auth.hpp for the contract).
// Portable: the channel carries the messages, OpenSSL computes the MACs.
#include "pipekit/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "pipekit/error.hpp"

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

struct digest_kind {
  std::string_view name;
  const EVP_MD* (*md)();
};
// Python 3.12's _ALLOWED_DIGESTS.
constexpr std::array<digest_kind, 5> digests{{
    {"md5", &EVP_md5},
    {"sha256", &EVP_sha256},
    {"sha384", &EVP_sha384},
    {"sha3_256", &EVP_sha3_256},
    {"sha3_384", &EVP_sha3_384},
}};

bool hmac(const EVP_MD* md, std::span<const std::byte> key, std::string_view data, std::string& out) {
  static const unsigned char empty = 0;  // OpenSSL wants a non-null key even when it is empty
  const auto* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int n = 0;
  if (HMAC(md, k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           mac.data(), &n) == nullptr)
    return false;
  out.assign(reinterpret_cast<const char*>(mac.data()), n);
  return true;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Splits a "{name}rest" message as Python 3.12's _get_digest_name_and_payload
// does. Returns the digest, or null when the message has no known prefix.
const digest_kind* split_prefix(std::string_view message, std::string_view& rest) {
  if (message.empty() || message.front() != '{') return nullptr;
  const auto close = message.find('}', 1);
  if (close == std::string_view::npos) return nullptr;
  const std::string_view name = message.substr(1, close - 1);
  for (const digest_kind& d : digests) {
    if (d.name == name) {
      rest = message.substr(close + 1);
      return &d;
    }
  }
  return nullptr;
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
  std::array<unsigned char, challenge_length> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
    return fail(ch, ec, std::make_error_code(std::errc::io_error));
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
  const EVP_MD* md = EVP_md5();
  std::string_view mac = response;
  if (response.size() != md5_length) {
    std::string_view rest;
    const digest_kind* d = split_prefix(response, rest);
    if (d == nullptr) {
      std::error_code ignored;
      ch.send(failure, until, ignored);
      return fail(ch, ec, make_error_code(errc::protocol_error));
    }
    md = d->md();
    mac = rest;
  }
  std::string expected;
  if (!hmac(md, key, body, expected)) return fail(ch, ec, std::make_error_code(std::errc::io_error));
  if (!equal_in_constant_time(expected, mac)) {
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
  const digest_kind* d = nullptr;
  if (body.size() != legacy_challenge_length && body.size() != md5_length) d = split_prefix(body, payload);
  if (d == nullptr) {
    // Python <= 3.11 answers any challenge with a raw HMAC-MD5.
    if (!hmac(EVP_md5(), key, body, reply)) return fail(ch, ec, std::make_error_code(std::errc::io_error));
  } else {
    // 3.12: the MAC covers the whole body, prefix included, so a
    // man in the middle cannot downgrade the digest.
    std::string mac;
    if (!hmac(d->md(), key, body, mac)) return fail(ch, ec, std::make_error_code(std::errc::io_error));
    reply.append("{").append(d->name).append("}").append(mac);
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
