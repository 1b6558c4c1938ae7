// sys/crypto.hpp with OpenSSL's libcrypto.
//
// With PIPEKIT_LOAD_LIBCRYPTO (Linux) libcrypto is not linked but loaded
// with dlopen() the first time authentication needs it: loading and
// relocating it costs every process about 2 ms at start (a quarter of the
// `pipekit` command's start, measured in bench/README.md), and most
// programs that use pipekit never authenticate. Its functions are called
// through pointers of their own declared types, so the compiler still
// checks every call against OpenSSL's headers.
#if defined(PIPEKIT_LOAD_LIBCRYPTO)
#include <dlfcn.h>
#endif
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <new>
#include <type_traits>

#include "pipekit/error.hpp"
#include "sys/crypto.hpp"

namespace pipekit::detail {
namespace {

// The libcrypto functions used here; all null when it cannot be loaded.
struct libcrypto {
  decltype(&::EVP_md5) md5 = nullptr;
  decltype(&::EVP_sha256) sha256 = nullptr;
  decltype(&::EVP_sha384) sha384 = nullptr;
  decltype(&::EVP_sha3_256) sha3_256 = nullptr;
  decltype(&::EVP_sha3_384) sha3_384 = nullptr;
  decltype(&::HMAC) hmac = nullptr;
  decltype(&::RAND_bytes) rand_bytes = nullptr;
  decltype(&::CRYPTO_memcmp) memcmp = nullptr;
  decltype(&::ERR_clear_error) clear_error = nullptr;

  [[nodiscard]] bool loaded() const noexcept { return clear_error != nullptr; }
};

#if defined(PIPEKIT_LOAD_LIBCRYPTO)
#define PIPEKIT_STRINGIZE2(x) #x
#define PIPEKIT_STRINGIZE(x) PIPEKIT_STRINGIZE2(x)
libcrypto load_libcrypto() noexcept {
  // The soname of the OpenSSL whose headers this was built with (never the
  // unversioned libcrypto.so, which may be another ABI or absent).
  void* lib = ::dlopen("libcrypto.so." PIPEKIT_STRINGIZE(OPENSSL_VERSION_MAJOR), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return {};  // kept loaded for the life of the process
  libcrypto c;
  bool all = true;
  const auto get = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
    all = all && fn != nullptr;
  };
  get(c.md5, "EVP_md5");
  get(c.sha256, "EVP_sha256");
  get(c.sha384, "EVP_sha384");
  get(c.sha3_256, "EVP_sha3_256");
  get(c.sha3_384, "EVP_sha3_384");
  get(c.hmac, "HMAC");
  get(c.rand_bytes, "RAND_bytes");
  get(c.memcmp, "CRYPTO_memcmp");
  get(c.clear_error, "ERR_clear_error");
  return all ? c : libcrypto{};
}
#else
libcrypto load_libcrypto() noexcept {
  return {&::EVP_md5, &::EVP_sha256, &::EVP_sha384,    &::EVP_sha3_256,   &::EVP_sha3_384,
          &::HMAC,    &::RAND_bytes, &::CRYPTO_memcmp, &::ERR_clear_error};
}
#endif

// Loaded once, by the first thread that needs it (a static's initialisation
// is thread-safe).
const libcrypto& crypto() noexcept {
  static const libcrypto c = load_libcrypto();
  return c;
}

const EVP_MD* message_digest(digest d) noexcept {
  const libcrypto& c = crypto();
  if (!c.loaded()) return nullptr;
  switch (d) {
    case digest::md5: return c.md5();
    case digest::sha256: return c.sha256();
    case digest::sha384: return c.sha384();
    case digest::sha3_256: return c.sha3_256();
    case digest::sha3_384: return c.sha3_384();
  }
  return nullptr;
}

// A failed call leaves its reasons on the thread's OpenSSL error queue; drop
// them, so they are not blamed on the next unrelated OpenSSL call.
std::error_code openssl_failure() noexcept {
  crypto().clear_error();
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
  if (crypto().hmac(md, k, static_cast<int>(key.size()), p, data.size(), mac.data(), &n) == nullptr) {
    ec = openssl_failure();
    return false;
  }
  return store_mac(mac.data(), n, out, ec);
}

void random_bytes(std::span<std::byte> buf, std::error_code& ec) noexcept {
  ec.clear();
  const libcrypto& c = crypto();
  if (!c.loaded()) {
    ec = make_error_code(errc::not_supported);
    return;
  }
  while (!buf.empty()) {  // RAND_bytes takes an int
    const std::size_t n = std::min<std::size_t>(buf.size(), INT_MAX);
    if (c.rand_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(n)) != 1) {
      ec = openssl_failure();
      return;
    }
    buf = buf.subspan(n);
  }
}

bool equal_in_constant_time(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  if (a.size() != b.size()) return false;
  const libcrypto& c = crypto();
  if (c.loaded()) return c.memcmp(a.data(), b.data(), a.size()) == 0;
  // Without libcrypto nothing was authenticated to compare, but never say
  // "equal" by mistake: the same constant-time idea, by hand.
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(std::to_integer<unsigned char>(a[i]) ^ std::to_integer<unsigned char>(b[i]));
  return diff == 0;
}

}  // namespace pipekit::detail
