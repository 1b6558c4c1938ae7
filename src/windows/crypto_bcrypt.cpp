// sys/crypto.hpp with CNG (bcrypt.dll), part of every Windows since Vista.
#include <windows.h>
// After windows.h, which they assume.
#include <bcrypt.h>
#include <winternl.h>  // RtlNtStatusToDosError

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <new>

#include "pipekit/error.hpp"
#include "sys/crypto.hpp"
#include "windows/win_error.hpp"

namespace pipekit::detail {
namespace {

constexpr std::size_t max_ulong = std::numeric_limits<ULONG>::max();

// CNG reports NTSTATUS values; the Win32 code they map to is what
// win32_category() knows (messages, std::errc conditions).
std::error_code nt_error(NTSTATUS status) noexcept { return win_error(::RtlNtStatusToDosError(status)); }

const wchar_t* algorithm_id(digest d) noexcept {
  switch (d) {
    case digest::md5: return BCRYPT_MD5_ALGORITHM;
    case digest::sha256: return BCRYPT_SHA256_ALGORITHM;
    case digest::sha384: return BCRYPT_SHA384_ALGORITHM;
    // BCRYPT_SHA3_256_ALGORITHM and BCRYPT_SHA3_384_ALGORITHM of newer SDKs
    // (mingw-w64's headers do not have them yet).
    case digest::sha3_256: return L"SHA3-256";
    case digest::sha3_384: return L"SHA3-384";
  }
  return nullptr;
}

// One HMAC provider per digest, opened on first use and kept for the life of
// the process: opening a provider is slow (it loads and initialises the
// algorithm), and Microsoft recommends keeping the handle. A provider handle
// may be used by several threads at once. A digest the system lacks (SHA3
// before Windows 11 24H2, and in Wine) keeps a null handle.
BCRYPT_ALG_HANDLE hmac_provider(digest d) noexcept {
  static const std::array<BCRYPT_ALG_HANDLE, digest_table.size()> providers = [] {
    std::array<BCRYPT_ALG_HANDLE, digest_table.size()> handles{};
    for (const digest_info& i : digest_table) {
      BCRYPT_ALG_HANDLE h = nullptr;
      if (!BCRYPT_SUCCESS(::BCryptOpenAlgorithmProvider(&h, algorithm_id(i.id), nullptr, BCRYPT_ALG_HANDLE_HMAC_FLAG)))
        h = nullptr;
      handles[static_cast<std::size_t>(i.id)] = h;
    }
    return handles;
  }();
  const auto index = static_cast<std::size_t>(d);
  return index < providers.size() ? providers[index] : nullptr;
}

class hash_handle {
 public:
  hash_handle() = default;
  hash_handle(const hash_handle&) = delete;
  hash_handle& operator=(const hash_handle&) = delete;
  ~hash_handle() {
    if (h_ != nullptr) ::BCryptDestroyHash(h_);
  }
  BCRYPT_HASH_HANDLE* out() noexcept { return &h_; }
  BCRYPT_HASH_HANDLE get() const noexcept { return h_; }

 private:
  BCRYPT_HASH_HANDLE h_ = nullptr;
};

}  // namespace

bool digest_available(digest d) noexcept { return hmac_provider(d) != nullptr; }

bool hmac(digest d, std::span<const std::byte> key, std::span<const std::byte> data, std::string& out,
          std::error_code& ec) noexcept {
  ec.clear();
  const BCRYPT_ALG_HANDLE provider = hmac_provider(d);
  if (provider == nullptr) {
    ec = make_error_code(errc::not_supported);
    return false;
  }
  if (key.size() > max_ulong) {
    ec = std::make_error_code(std::errc::value_too_large);
    return false;
  }
  // CNG takes non-const pointers but only reads the key and the data. The
  // hash object lives in memory CNG allocates itself (null, 0: Windows 7+).
  auto* secret = reinterpret_cast<PUCHAR>(const_cast<std::byte*>(key.data()));
  hash_handle hash;
  NTSTATUS status = ::BCryptCreateHash(provider, hash.out(), nullptr, 0, secret, static_cast<ULONG>(key.size()), 0);
  if (!BCRYPT_SUCCESS(status)) {
    ec = nt_error(status);
    return false;
  }
  while (!data.empty()) {  // BCryptHashData takes a ULONG size
    const std::size_t n = std::min(data.size(), max_ulong);
    status = ::BCryptHashData(hash.get(), reinterpret_cast<PUCHAR>(const_cast<std::byte*>(data.data())),
                              static_cast<ULONG>(n), 0);
    if (!BCRYPT_SUCCESS(status)) {
      ec = nt_error(status);
      return false;
    }
    data = data.subspan(n);
  }
  std::array<UCHAR, max_mac_size> mac{};
  const std::size_t size = mac_size(d);
  status = ::BCryptFinishHash(hash.get(), mac.data(), static_cast<ULONG>(size), 0);
  if (!BCRYPT_SUCCESS(status)) {
    ec = nt_error(status);
    return false;
  }
  return store_mac(mac.data(), size, out, ec);
}

void random_bytes(std::span<std::byte> buf, std::error_code& ec) noexcept {
  ec.clear();
  while (!buf.empty()) {  // BCryptGenRandom takes a ULONG size
    const std::size_t n = std::min(buf.size(), max_ulong);
    const NTSTATUS status = ::BCryptGenRandom(nullptr, reinterpret_cast<PUCHAR>(buf.data()), static_cast<ULONG>(n),
                                              BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    if (!BCRYPT_SUCCESS(status)) {
      ec = nt_error(status);
      return;
    }
    buf = buf.subspan(n);
  }
}

bool equal_in_constant_time(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  if (a.size() != b.size()) return false;
  // Every byte is compared: through volatile reads the compiler may neither
  // skip the rest once a difference is known nor turn the loop into memcmp.
  const volatile auto* x = reinterpret_cast<const volatile std::uint8_t*>(a.data());
  const volatile auto* y = reinterpret_cast<const volatile std::uint8_t*>(b.data());
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = static_cast<std::uint8_t>(diff | (x[i] ^ y[i]));
  return diff == 0;
}

}  // namespace pipekit::detail
