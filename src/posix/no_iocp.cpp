// I/O completion ports are Windows only.
#include "pipekit/error.hpp"
#include "sys/poller_impl.hpp"

namespace pipekit::detail {
std::unique_ptr<poller_impl> make_iocp_poller(std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return nullptr;
}
}  // namespace pipekit::detail
