// The cryptography behind authentication (src/sys/crypto.hpp): HMAC against
// the RFC test vectors, random bytes, digests a system lacks. Runs on POSIX
// (OpenSSL) and on Windows (CNG; under Wine in CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pipekit/error.hpp"
#include "sys/crypto.hpp"

namespace {

using pipekit::detail::digest;

std::vector<std::byte> repeat(unsigned char value, std::size_t n) {
  return std::vector<std::byte>(n, std::byte{value});
}

std::vector<std::byte> text(std::string_view s) {
  const auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}

std::string hex(std::string_view raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const char c : raw) {
    const auto v = static_cast<unsigned char>(c);
    s += digits[v >> 4];
    s += digits[v & 15];
  }
  return s;
}

// HMAC-d(key, data) as lower-case hex; fails the test on an error.
std::string hmac_hex(digest d, const std::vector<std::byte>& key, const std::vector<std::byte>& data) {
  std::string out = "previous content";
  std::error_code ec;
  const bool ok = pipekit::detail::hmac(d, key, data, out, ec);
  EXPECT_TRUE(ok) << pipekit::detail::digest_name(d) << ": " << ec.message();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(out.size(), pipekit::detail::mac_size(d));
  return hex(out);
}

// RFC 2202 section 2 (HMAC-MD5): cases 1, 2, 3, 6 and 7; 6 and 7 have an
// 80-byte key, longer than MD5's 64-byte block.
TEST(crypto, hmac_md5_matches_rfc_2202) {
  EXPECT_EQ(hmac_hex(digest::md5, repeat(0x0b, 16), text("Hi There")), "9294727a3638bb1c13f48ef8158bfc9d");
  EXPECT_EQ(hmac_hex(digest::md5, text("Jefe"), text("what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738");
  EXPECT_EQ(hmac_hex(digest::md5, repeat(0xaa, 16), repeat(0xdd, 50)), "56be34521d144c88dbb8c733f0e8b3f6");
  EXPECT_EQ(hmac_hex(digest::md5, repeat(0xaa, 80), text("Test Using Larger Than Block-Size Key - Hash Key First")),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");
  EXPECT_EQ(hmac_hex(digest::md5, repeat(0xaa, 80),
                     text("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data")),
            "6f630fad67cda0ee1fb1f562db3aa53e");
}

// RFC 4231 section 4: cases 1, 2, 6 and 7; 6 and 7 have a 131-byte key,
// longer than the block of SHA-256 (64 bytes) and of SHA-384 (128 bytes).
const std::string_view rfc4231_case7 =
    "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
    "hashed before being used by the HMAC algorithm.";

TEST(crypto, hmac_sha256_matches_rfc_4231) {
  EXPECT_EQ(hmac_hex(digest::sha256, repeat(0x0b, 20), text("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hmac_hex(digest::sha256, text("Jefe"), text("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_hex(digest::sha256, repeat(0xaa, 131), text("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hmac_hex(digest::sha256, repeat(0xaa, 131), text(rfc4231_case7)),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(crypto, hmac_sha384_matches_rfc_4231) {
  EXPECT_EQ(hmac_hex(digest::sha384, repeat(0x0b, 20), text("Hi There")),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6");
  EXPECT_EQ(hmac_hex(digest::sha384, text("Jefe"), text("what do ya want for nothing?")),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649");
  EXPECT_EQ(hmac_hex(digest::sha384, repeat(0xaa, 131), text("Test Using Larger Than Block-Size Key - Hash Key First")),
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952");
  EXPECT_EQ(hmac_hex(digest::sha384, repeat(0xaa, 131), text(rfc4231_case7)),
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e");
}

// multiprocessing accepts an empty authkey; HMAC then pads an empty key.
// Values from Python's hmac module.
TEST(crypto, hmac_accepts_an_empty_key_and_empty_data) {
  EXPECT_EQ(hmac_hex(digest::md5, {}, {}), "74e6f7298a9c2d168935f58c001bad88");
  EXPECT_EQ(hmac_hex(digest::sha256, {}, {}), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(hmac_hex(digest::sha256, {}, text("Hi There")),
            "e48411262715c8370cd5e7bf8e82bef53bd53712d007f3429351843b77c7bb9b");
}

// SHA3 has no RFC vectors: these are RFC 4231's inputs with the values of
// Python's hmac module (OpenSSL). Windows has HMAC-SHA3 only from Windows 11
// 24H2 on, and Wine 8.0's bcrypt not at all (BCryptOpenAlgorithmProvider
// returns STATUS_NOT_IMPLEMENTED for "SHA3-256" and "SHA3-384"), so where the
// system lacks it the test checks the documented answer instead: the digest
// is unavailable and hmac() fails with errc::not_supported.
TEST(crypto, hmac_sha3_matches_python_or_is_reported_unavailable) {
  struct sha3_case {
    digest d;
    std::string_view jefe;
    std::string_view long_key;
  };
  const std::array<sha3_case, 2> cases{{
      {digest::sha3_256, "c7d4072e788877ae3596bbb0da73b887c9171f93095b294ae857fbe2645e1ba5",
       "49ad92b02124fdac9627ae45e008a696182ab6bfb8470457777c744aeb9df06f"},
      {digest::sha3_384,
       "f1101f8cbf9766fd6764d2ed61903f21ca9b18f57cf3e1a23ca13508a93243ce48c045dc007f26a21b3f5e0e9df4c20a",
       "3e7b62d091d75f484892bc2ed26d7b0ed37c9529f0227197cc8522971eb6f7215dd4e0cc6ea306987e0cbfe914f3a916"},
  }};
  for (const sha3_case& c : cases) {
    SCOPED_TRACE(pipekit::detail::digest_name(c.d));
#ifndef _WIN32
    EXPECT_TRUE(pipekit::detail::digest_available(c.d)) << "OpenSSL has SHA3";
#endif
    if (pipekit::detail::digest_available(c.d)) {
      EXPECT_EQ(hmac_hex(c.d, text("Jefe"), text("what do ya want for nothing?")), c.jefe);
      // A 200-byte key is longer than the block of SHA3-256 (136) and SHA3-384 (104).
      EXPECT_EQ(hmac_hex(c.d, repeat(0xaa, 200), text("Test Using Larger Than Block-Size Key - Hash Key First")),
                c.long_key);
    } else {
      std::string out;
      std::error_code ec;
      EXPECT_FALSE(pipekit::detail::hmac(c.d, text("Jefe"), text("data"), out, ec));
      EXPECT_EQ(ec, pipekit::errc::not_supported) << ec.message();
    }
  }
}

// MD5, SHA-256 and SHA-384 are what every Python peer may choose; every
// system pipekit runs on must have them.
TEST(crypto, md5_sha256_sha384_are_always_available) {
  EXPECT_TRUE(pipekit::detail::digest_available(digest::md5));
  EXPECT_TRUE(pipekit::detail::digest_available(digest::sha256));
  EXPECT_TRUE(pipekit::detail::digest_available(digest::sha384));
}

TEST(crypto, digest_by_name_knows_python_names_only) {
  for (const auto& info : pipekit::detail::digest_table) {
    const auto d = pipekit::detail::digest_by_name(info.name);
    ASSERT_TRUE(d.has_value()) << info.name;
    EXPECT_EQ(*d, info.id);
    EXPECT_EQ(pipekit::detail::digest_name(*d), info.name);
  }
  EXPECT_EQ(pipekit::detail::mac_size(digest::md5), 16U);
  EXPECT_EQ(pipekit::detail::mac_size(digest::sha256), 32U);
  EXPECT_EQ(pipekit::detail::mac_size(digest::sha384), 48U);
  EXPECT_EQ(pipekit::detail::mac_size(digest::sha3_256), 32U);
  EXPECT_EQ(pipekit::detail::mac_size(digest::sha3_384), 48U);
  for (const std::string_view unknown : {"", "MD5", "sha512", "sha1", "sha3-256", "sha256 ", "{sha256}"})
    EXPECT_FALSE(pipekit::detail::digest_by_name(unknown).has_value()) << '"' << unknown << '"';
}

TEST(crypto, equal_in_constant_time_compares_size_and_every_byte) {
  const auto a = text("0123456789abcdef");
  auto b = a;
  EXPECT_TRUE(pipekit::detail::equal_in_constant_time(a, b));
  b.back() = std::byte{'g'};
  EXPECT_FALSE(pipekit::detail::equal_in_constant_time(a, b));
  b = a;
  b.front() = std::byte{'x'};
  EXPECT_FALSE(pipekit::detail::equal_in_constant_time(a, b));
  EXPECT_FALSE(pipekit::detail::equal_in_constant_time(a, std::span(a).first(15)));
  EXPECT_TRUE(pipekit::detail::equal_in_constant_time({}, {}));
}

TEST(crypto, random_bytes_differ_between_calls) {
  std::array<std::byte, 32> a{};
  std::array<std::byte, 32> b{};
  std::error_code ec;
  pipekit::detail::random_bytes(a, ec);
  ASSERT_FALSE(ec) << ec.message();
  pipekit::detail::random_bytes(b, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_NE(a, b);  // equal with probability 2^-256
}

// Every 8-byte piece of the span changes from a known fill (each keeps it with
// probability 2^-64), and the bytes either side of the span stay untouched.
TEST(crypto, random_bytes_fills_the_whole_span_and_nothing_else) {
  constexpr std::byte fill{0xa5};
  for (const std::size_t size : {1001U, 20U, 7U}) {
    SCOPED_TRACE(size);
    std::vector<std::byte> buf(size + 2, fill);
    std::error_code ec;
    pipekit::detail::random_bytes(std::span(buf).subspan(1, size), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(buf.front(), fill);
    EXPECT_EQ(buf.back(), fill);
    for (std::size_t at = 1; at < size + 1; at += 8) {
      const auto piece = std::span(buf).subspan(at, std::min<std::size_t>(8, size + 1 - at));
      if (piece.size() < 4) continue;  // too short to tell from chance
      EXPECT_FALSE(std::all_of(piece.begin(), piece.end(), [&](std::byte b) { return b == fill; }))
          << "bytes " << at - 1 << ".." << at - 1 + piece.size() << " were not written";
    }
  }
  std::error_code ec;
  pipekit::detail::random_bytes({}, ec);
  EXPECT_FALSE(ec) << ec.message();
}

}  // namespace
