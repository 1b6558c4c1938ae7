// The wire format of channels: multiprocessing.connection's framing, a
// 4-byte big-endian length before each message, or -1 and an 8-byte length
// for messages past 2 GiB - 1. Alone, so that other protocols on pipes (the
// worker pool's) frame their messages the same way without the rest of a
// channel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipekit::detail::wire {

// Python writes the 8-byte form only above this; we accept either form.
inline constexpr std::uint64_t max_short_length = 0x7fffffff;
inline constexpr std::size_t max_header = 12;

inline std::size_t header_size(std::size_t n) noexcept {
  return static_cast<std::uint64_t>(n) <= max_short_length ? 4 : 12;
}

// Writes the header of an `n`-byte message to `out` (max_header bytes of
// room); returns its size.
inline std::size_t encode_header(std::size_t n, std::byte* out) noexcept {
  const auto put = [out](std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out[at + i] = static_cast<std::byte>(v >> (8 * (bytes - 1 - i)));
  };
  if (static_cast<std::uint64_t>(n) <= max_short_length) {
    put(0, n, 4);
    return 4;
  }
  put(0, 0xffffffffu, 4);  // -1: an 8-byte length follows
  put(4, n, 8);
  return 12;
}

inline std::uint64_t decode_be(const std::byte* p, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

enum class header_status { complete, need_more, bad };

// Reads the header at the start of `avail` bytes at `p`: its size and the
// message's length when complete.
inline header_status decode_header(const std::byte* p, std::size_t avail, std::size_t& header,
                                   std::uint64_t& length) noexcept {
  if (avail < 4) return header_status::need_more;
  const auto first = static_cast<std::int32_t>(static_cast<std::uint32_t>(decode_be(p, 4)));
  if (first >= 0) {
    header = 4;
    length = static_cast<std::uint64_t>(first);
    return header_status::complete;
  }
  if (first != -1) return header_status::bad;
  if (avail < 12) return header_status::need_more;
  header = 12;
  length = decode_be(p + 4, 8);
  return header_status::complete;
}

}  // namespace pipekit::detail::wire
