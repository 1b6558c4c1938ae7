// Systems without huge pages on request: large buffers are plain memory.
#include "sys/large_buffer.hpp"

namespace pipekit::detail {

std::size_t huge_page_capacity(std::size_t n) noexcept { return n; }

void advise_huge_pages(void*, std::size_t) noexcept {}

}  // namespace pipekit::detail
