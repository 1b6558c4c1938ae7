// The platform-neutral half of handle: ownership and the throwing forms.
// close(ec) and duplicate(ec) are per platform (src/posix, src/windows).
#include "pipekit/handle.hpp"

#include "pipekit/error.hpp"

namespace pipekit {

handle& handle::operator=(handle&& other) noexcept {
  if (this != &other) {
    std::error_code ignored;
    close(ignored);
    h_ = other.release();
  }
  return *this;
}

handle::~handle() {
  std::error_code ignored;
  close(ignored);
}

void handle::close() {
  std::error_code ec;
  close(ec);
  detail::throw_if(ec, "close");
}

handle handle::duplicate() const {
  std::error_code ec;
  handle h = duplicate(ec);
  detail::throw_if(ec, "duplicate");
  return h;
}

}  // namespace pipekit
