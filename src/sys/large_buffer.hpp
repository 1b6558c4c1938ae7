// Internal: memory for large buffers (communicate()'s output, a channel
// message of many MiB). Fresh memory is what such a buffer costs: on the VMs
// pipekit is measured on, a first touch of a 4 KiB page costs ~10 us (fresh
// pages fill at ~0.36 GiB/s, slower than a pipe), while memory the system
// backs with 2 MiB pages fills at 9-12 GiB/s. The seam is two functions, one
// implementation per platform: src/linux/large_buffer_linux.cpp
// (transparent huge pages through madvise) and src/no_huge_pages.cpp (the
// others: no-ops).
#pragma once

#include <cstddef>
#include <string>

namespace pipekit::detail {

// A capacity of at least `n` for a std::string whose block huge pages can
// back whole (Linux: the allocation is a multiple of 2 MiB, which glibc's
// malloc maps on its own and the kernel aligns to 2 MiB); `n` elsewhere.
std::size_t huge_page_capacity(std::size_t n) noexcept;

// Asks the system to back [p, p + n), a block this process allocated and
// owns, with huge pages from now on. Best effort: no error, nothing where the
// system has none. Memory that is never touched still costs nothing.
void advise_huge_pages(void* p, std::size_t n) noexcept;

// Buffers at least this large get huge pages (smaller ones are not worth a
// 2 MiB page: a few bytes written would make 2 MiB resident).
inline constexpr std::size_t large_buffer_threshold = std::size_t{4} << 20;

// Gives `s` room for `n` bytes without a later reallocation: when its
// capacity is smaller, a new block (huge-page backed when n >=
// large_buffer_threshold) takes its content. Touches only that content: the
// rest of the block is address space until written.
inline void reserve_large(std::string& s, std::size_t n) {
  if (s.capacity() >= n) return;
  if (n < large_buffer_threshold) {
    s.reserve(n);
    return;
  }
  std::string bigger;
  bigger.reserve(huge_page_capacity(n));
  advise_huge_pages(bigger.data(), bigger.capacity());
  bigger.append(s);
  s.swap(bigger);
}

}  // namespace pipekit::detail
