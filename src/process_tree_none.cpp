// Systems where pipekit finds no descendants beyond the process group (or
// needs none: a Windows job object holds the whole tree). See
// sys/process_tree.hpp.
#include "pipekit/error.hpp"
#include "sys/process_tree.hpp"

namespace pipekit::detail {

void process_tree::freeze_descendants_of(int, bool) noexcept {}
void process_tree::signal(int) noexcept {}
void process_tree::reap_own_children() noexcept {}
bool process_tree::supported() noexcept { return false; }

void become_subreaper(std::error_code& ec) noexcept { ec = make_error_code(errc::not_supported); }

std::size_t kill_own_descendants(std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return 0;
}

}  // namespace pipekit::detail
