// Large buffers on Linux: transparent huge pages on request
// (madvise(MADV_HUGEPAGE)), which work when THP is in "always" or "madvise"
// mode (the common default) and change nothing in "never".
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "sys/large_buffer.hpp"

// Linux 6.1; older headers lack the name, older kernels answer EINVAL.
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace pipekit::detail {

namespace {

constexpr std::uintptr_t huge_page = std::uintptr_t{2} << 20;

// What glibc's malloc adds to a request before mapping it: its 16-byte
// chunk header, rounded; std::string asks for one byte more (the
// terminator). Leaving 64 bytes keeps the mapping within the multiple.
constexpr std::size_t allocation_slack = 64;

}  // namespace

std::size_t huge_page_capacity(std::size_t n) noexcept {
  // A mapping whose length is a multiple of 2 MiB starts on a 2 MiB boundary
  // (Linux aligns such anonymous mappings), so every 2 MiB range of the
  // block can be one huge page; otherwise the two partial ranges at its ends
  // stay in 4 KiB pages (up to 1,022 page faults, ~10 ms here).
  const std::uintptr_t want = n + allocation_slack;
  if (want < n) return n;  // overflow: leave it to the allocator to refuse
  const std::uintptr_t rounded = (want + huge_page - 1) & ~(huge_page - 1);
  return rounded < want ? n : static_cast<std::size_t>(rounded - allocation_slack);
}

void advise_huge_pages(void* p, std::size_t n) noexcept {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  // From the page holding p: for a block malloc mapped on its own, that page
  // holds its header and belongs to the same mapping, and a range's huge
  // page needs the whole 2 MiB range advised. For a block inside the heap the
  // page is shared with a neighbour, which the advice does not harm.
  const std::uintptr_t begin = at & ~(page - 1);
  const std::uintptr_t end = (at + n) & ~(page - 1);
  if (end <= begin) return;
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) != 0) return;
  // malloc wrote its header before the advice, so the first 2 MiB range
  // already has a 4 KiB page and would fault in 4 KiB pages from now on:
  // have the kernel make it one huge page now (~0.2 ms instead of ~5 ms of
  // faults later). Failure (an older kernel, no free huge page) is harmless.
  const std::uintptr_t first = begin & ~(huge_page - 1);
  if (first == begin && first + huge_page <= end) {
    (void)::madvise(reinterpret_cast<void*>(first), huge_page, MADV_COLLAPSE);
  }
}

}  // namespace pipekit::detail
