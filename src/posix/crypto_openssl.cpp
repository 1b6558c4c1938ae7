// sys/crypto.hpp with OpenSSL's libcrypto.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <new>

#include "pipekit/error.hpp"
#include "sys/crypto.hpp"

namespace pipekit::detail {
namespace {

const EVP_MD* message_digest(digest d) noexcept {
  switch (d) {
    case digest::md5: return EVP_md5();
    case digest::sha256: return EVP_sha256();
    case digest::sha384: return EVP_sha384();
    case digest::sha3_256: return EVP_sha3_256();
    case digest::sha3_384: return EVP_sha3_384();
  }
  return nullptr;
}

// A failed call leaves its reasons on the thread's OpenSSL error queue; drop
// them, so they are not blamed on the next unrelated OpenSSL call.
std::error_code openssl_failure() noexcept {
  ERR_clear_error();
  return std::make_error_code(std::errc::io_error);
}

}  // namespace

bool digest_available(digest d) noexcept { return message_digest(d) != nullptr; }

bool hmac(digest d, std::span<const std::byte> key, std::span<const std::byte> data, std::string& out,
          std::error_code& ec) noexcept {
  ec.clear();
  const EVP_MD* md = message_digest(d);
  if (md == nullptr) {
    ec = make_error_code(errc::not_supported);
    return false;
  }
  if (key.size() > static_cast<std::size_t>(INT_MAX)) {
    ec = std::make_error_code(std::errc::value_too_large);
    return false;
  }
  // OpenSSL wants non-null pointers even for empty spans.
  static const unsigned char empty = 0;
  const auto* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  const auto* p = data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int n = 0;
  if (HMAC(md, k, static_cast<int>(key.size()), p, data.size(), mac.data(), &n) == nullptr) {
    ec = openssl_failure();
    return false;
  }
  return store_mac(mac.data(), n, out, ec);
}

void random_bytes(std::span<std::byte> buf, std::error_code& ec) noexcept {
  ec.clear();
  while (!buf.empty()) {  // RAND_bytes takes an int
    const std::size_t n = std::min<std::size_t>(buf.size(), INT_MAX);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(n)) != 1) {
      ec = openssl_failure();
      return;
    }
    buf = buf.subspan(n);
  }
}

bool equal_in_constant_time(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pipekit::detail
