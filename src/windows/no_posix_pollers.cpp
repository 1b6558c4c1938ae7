// Windows has neither epoll nor poll() for pipes: the automatic poller is
// the completion port (iocp_poller.cpp).
#include "pipekit/error.hpp"
#include "sys/poller_impl.hpp"

namespace pipekit::detail {
std::unique_ptr<poller_impl> make_epoll_poller(std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return nullptr;
}
std::unique_ptr<poller_impl> make_poll_poller(std::error_code& ec) noexcept {
  ec = make_error_code(errc::not_supported);
  return nullptr;
}
}  // namespace pipekit::detail
