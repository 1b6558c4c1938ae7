// The portable face of poller: backend choice and the throwing forms.
#include "pipekit/poller.hpp"

#include "pipekit/error.hpp"
#include "sys/poller_impl.hpp"

namespace pipekit {

poller::poller(poller_backend backend) {
  std::error_code ec;
  *this = poller(backend, ec);
  detail::throw_if(ec, "poller");
}

namespace {

struct backend_entry {
  poller_backend backend;
  std::unique_ptr<detail::poller_impl> (*make)(std::error_code& ec) noexcept;
};

// The backends this platform has, best first: the automatic choice takes the
// first one the system grants.
constexpr backend_entry backends[] = {
#if defined(__linux__)
    {poller_backend::epoll, detail::make_epoll_poller},
#endif
#if defined(_WIN32)
    {poller_backend::iocp, detail::make_iocp_poller},
#else
    {poller_backend::poll, detail::make_poll_poller},
#endif
};

}  // namespace

poller::poller(poller_backend backend, std::error_code& ec) noexcept {
  ec.clear();
  for (const backend_entry& b : backends) {
    if (backend != poller_backend::automatic && backend != b.backend) continue;
    ec.clear();
    impl_ = b.make(ec);
    if (impl_ || backend != poller_backend::automatic) return;
  }
  // Here either every backend refused (automatic; ec holds the last
  // refusal) or the one asked for is not in this platform's table.
  if (!ec) ec = make_error_code(errc::not_supported);
}

poller::poller(poller&&) noexcept = default;
poller& poller::operator=(poller&&) noexcept = default;
poller::~poller() = default;

void poller::add(native_handle_type h, events interest, std::uint64_t token) {
  std::error_code ec;
  add(h, interest, token, ec);
  detail::throw_if(ec, "poller::add");
}
void poller::add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  impl_->add(h, interest, token, ec);
}
void poller::modify(native_handle_type h, events interest, std::uint64_t token) {
  std::error_code ec;
  modify(h, interest, token, ec);
  detail::throw_if(ec, "poller::modify");
}
void poller::modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept {
  ec.clear();
  impl_->modify(h, interest, token, ec);
}
void poller::remove(native_handle_type h) {
  std::error_code ec;
  remove(h, ec);
  detail::throw_if(ec, "poller::remove");
}
void poller::remove(native_handle_type h, std::error_code& ec) noexcept {
  ec.clear();
  impl_->remove(h, ec);
}
std::size_t poller::wait(std::span<poll_event> out, deadline until) {
  std::error_code ec;
  const std::size_t n = wait(out, until, ec);
  detail::throw_if(ec, "poller::wait");
  return n;
}
std::size_t poller::wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept {
  ec.clear();
  return impl_->wait(out, until, ec);
}
void poller::wake() noexcept { impl_->wake(); }
poller_backend poller::backend() const noexcept { return impl_->backend(); }
std::size_t poller::size() const noexcept { return impl_->size(); }

}  // namespace pipekit
