// Records of many sizes, written by pipekit_child's `varied` mode and
// checked by the tests that read them back (fan_in, the CLI's fanin):
// record i of producer TAG is "TAG:i:" and then record_fill(i, max) times
// the letter 'a' + i % 26. One record in ten is long (up to max bytes),
// the others short, so every way a record can fall across reads happens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pipekit_test {

inline std::size_t record_fill(std::size_t i, std::size_t max) {
  if (i % 10 == 9) return static_cast<std::size_t>((std::uint64_t{i} * 2654435761u) % (max + 1));
  return (i * 31) % 200;
}

inline std::string varied_record(const std::string& tag, std::size_t i, std::size_t max) {
  return tag + ":" + std::to_string(i) + ":" + std::string(record_fill(i, max), static_cast<char>('a' + i % 26));
}

}  // namespace pipekit_test
