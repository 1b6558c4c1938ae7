// The portable half of the local-server API: the throwing forms, the server's
// members that are the same everywhere, and the connection's stream
// primitives over the platform functions of sys/local.hpp.
#include "pipekit/local.hpp"

#include <utility>

#include "pipekit/error.hpp"
#include "sys/io.hpp"
#include "sys/local.hpp"
#if defined(_WIN32)
#include "windows/local_server_impl.hpp"
#else
#include "posix/local_server_impl.hpp"
#endif

namespace pipekit {

local_connection::local_connection(local_connection&& other) noexcept
    : h_(std::move(other.h_)), mode_(other.mode_), server_end_(other.server_end_) {}

local_connection& local_connection::operator=(local_connection&& other) noexcept {
  if (this != &other) {
    h_ = std::move(other.h_);
    mode_ = other.mode_;
    server_end_ = other.server_end_;
  }
  return *this;
}

namespace {
// What recv() and send() refuse before touching the connection.
bool message_call_allowed(const handle& h, local_mode mode, std::error_code& ec) noexcept {
  if (!h.is_open()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return false;
  }
  if (mode != local_mode::messages) {
    ec = make_error_code(errc::not_supported);
    return false;
  }
  ec.clear();
  return true;
}
}  // namespace

bool local_connection::recv(std::string& out, deadline until) {
  std::error_code ec;
  const bool got = recv(out, until, ec);
  detail::throw_if(ec, "local_connection recv");
  return got;
}

bool local_connection::recv(std::string& out, deadline until, std::error_code& ec) noexcept {
  std::optional<std::string> m = recv(until, ec);
  if (!m) return false;
  out = std::move(*m);
  return true;
}

std::optional<std::string> local_connection::recv(deadline until) {
  std::error_code ec;
  auto m = recv(until, ec);
  detail::throw_if(ec, "local_connection recv");
  return m;
}

std::optional<std::string> local_connection::recv(deadline until, std::error_code& ec) noexcept {
  if (!message_call_allowed(h_, mode_, ec)) return std::nullopt;
  return detail::local_receive_message(h_.native_handle(), until, ec);
}

void local_connection::send(std::span<const std::byte> message, deadline until) {
  std::error_code ec;
  send(message, until, ec);
  detail::throw_if(ec, "local_connection send");
}

void local_connection::send(std::span<const std::byte> message, deadline until, std::error_code& ec) noexcept {
  if (!message_call_allowed(h_, mode_, ec)) return;
  detail::local_send_message(h_.native_handle(), message, until, ec);
}

peer_credentials local_connection::peer() const {
  std::error_code ec;
  peer_credentials p = peer(ec);
  detail::throw_if(ec, "peer credentials");
  return p;
}

peer_credentials local_connection::peer(std::error_code& ec) const noexcept {
  ec.clear();
  if (!h_.is_open()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return {};
  }
  return detail::local_peer(h_.native_handle(), server_end_, ec);
}

std::size_t local_connection::do_read_some(std::span<std::byte> buf, std::error_code& ec) noexcept {
  return detail::local_read(h_.native_handle(), mode_, buf, ec);
}

std::size_t local_connection::do_write_some(std::span<const std::byte> data, std::error_code& ec) noexcept {
  return detail::local_write(h_.native_handle(), mode_, data, ec);
}

bool local_connection::do_wait(events what, deadline until, std::error_code& ec) noexcept {
  return detail::wait_handle(h_.native_handle(), what, until, ec);
}

stream_caps local_connection::capabilities() const noexcept {
  if (!h_.is_open()) return stream_caps::none;
  if (mode_ == local_mode::messages) return stream_caps::native_handle;
  return stream_caps::native_handle | stream_caps::gather_write;
}

void local_connection::do_close(std::error_code& ec) noexcept { h_.close(ec); }

std::size_t local_connection::nonblocking_write_limit() const noexcept { return detail::local_write_limit(mode_); }

local_server::local_server() noexcept = default;
local_server::local_server(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
local_server::local_server(local_server&&) noexcept = default;
local_server& local_server::operator=(local_server&&) noexcept = default;
local_server::~local_server() = default;

bool local_server::is_open() const noexcept { return impl_ != nullptr; }
local_mode local_server::mode() const noexcept { return impl_ ? impl_->mode : local_mode::bytes; }
native_handle_type local_server::native_handle() const noexcept {
  return impl_ ? impl_->wait_handle() : invalid_native_handle;
}
void local_server::close() noexcept { impl_.reset(); }

local_server local_server::listen(const std::string& name, const listen_options& options) {
  std::error_code ec;
  local_server s = listen(name, options, ec);
  detail::throw_if(ec, "listen on " + name);
  return s;
}

local_connection local_server::accept(deadline until) {
  std::error_code ec;
  local_connection c = accept(until, ec);
  detail::throw_if(ec, "accept");
  return c;
}

local_connection connect_local(const std::string& name, local_mode mode, deadline until) {
  std::error_code ec;
  local_connection c = connect_local(name, mode, until, ec);
  detail::throw_if(ec, "connect to " + name);
  return c;
}

}  // namespace pipekit
