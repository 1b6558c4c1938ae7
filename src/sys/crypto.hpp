// Internal OS-neutral interface for the cryptography of authentication
// (auth.cpp): keyed MACs, a constant-time comparison and random bytes. One
// implementation per platform: src/posix/crypto_openssl.cpp (OpenSSL's
// libcrypto) and src/windows/crypto_bcrypt.cpp (CNG, bcrypt.dll).
//
//   std::string mac;
//   std::error_code ec;
//   if (auto d = digest_by_name("sha256"); d && digest_available(*d) && hmac(*d, key, data, mac, ec)) ...
//
// Every function is thread-safe and never throws.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace pipekit::detail {

// The digests of Python 3.12's multiprocessing.connection._ALLOWED_DIGESTS.
enum class digest : std::uint8_t { md5, sha256, sha384, sha3_256, sha3_384 };

struct digest_info {
  digest id;
  std::string_view name;  // as Python's hashlib names it, and as it travels in "{name}"
  std::size_t mac_size;   // bytes
};

inline constexpr std::array<digest_info, 5> digest_table{{
    {digest::md5, "md5", 16},
    {digest::sha256, "sha256", 32},
    {digest::sha384, "sha384", 48},
    {digest::sha3_256, "sha3_256", 32},
    {digest::sha3_384, "sha3_384", 48},
}};

// The longest MAC of any digest above.
inline constexpr std::size_t max_mac_size = 48;

// digest_table[i] describes digest(i); the lookups below rely on it.
static_assert([] {
  for (std::size_t i = 0; i < digest_table.size(); ++i)
    if (static_cast<std::size_t>(digest_table[i].id) != i || digest_table[i].mac_size > max_mac_size) return false;
  return true;
}());

// The digest Python calls `name` (exact, lower case), whether or not this
// platform has it; nullopt for any other name.
[[nodiscard]] constexpr std::optional<digest> digest_by_name(std::string_view name) noexcept {
  for (const digest_info& i : digest_table)
    if (i.name == name) return i.id;
  return std::nullopt;
}

[[nodiscard]] constexpr std::string_view digest_name(digest d) noexcept {
  return digest_table[static_cast<std::size_t>(d)].name;
}

[[nodiscard]] constexpr std::size_t mac_size(digest d) noexcept {
  return digest_table[static_cast<std::size_t>(d)].mac_size;
}

// Whether hmac() can compute `d` on this system. OpenSSL has all five; CNG
// has SHA3 only from Windows 11 24H2 on, and Wine's bcrypt has none of it.
[[nodiscard]] bool digest_available(digest d) noexcept;

// Sets `out` to HMAC-d(key, data), mac_size(d) bytes (any previous content is
// replaced). The key may be empty or longer than the digest's block size.
// Returns false and sets ec on failure: errc::not_supported when `d` is not
// available here, std::errc::not_enough_memory, or the crypto library's
// error (POSIX: std::errc::io_error; Windows: the NTSTATUS as a win32 error);
// `out` is then unspecified.
[[nodiscard]] bool hmac(digest d, std::span<const std::byte> key, std::span<const std::byte> data, std::string& out,
                        std::error_code& ec) noexcept;

// The end every hmac() shares: the finished MAC into `out`, without throwing.
inline bool store_mac(const unsigned char* mac, std::size_t n, std::string& out, std::error_code& ec) noexcept {
  try {
    out.assign(reinterpret_cast<const char*>(mac), n);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return false;
  }
  return true;
}

// Fills all of `buf` from the system's cryptographically secure generator.
// Sets ec when the generator fails (POSIX: std::errc::io_error; Windows: the
// NTSTATUS as a win32 error); the content of `buf` is then unspecified.
void random_bytes(std::span<std::byte> buf, std::error_code& ec) noexcept;

// a == b, in a time that depends on the sizes only, never on where the bytes
// differ: for comparing a received MAC with the expected one.
[[nodiscard]] bool equal_in_constant_time(std::span<const std::byte> a, std::span<const std::byte> b) noexcept;

}  // namespace pipekit::detail
