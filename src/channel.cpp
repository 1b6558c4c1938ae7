// The public face of channel: the throwing and error_code forms over
// channel_core (src/channel_core.hpp).
#include "pipekit/channel.hpp"

#include <utility>

#include "channel_core.hpp"

namespace pipekit {

namespace {

std::error_code closed_error() { return std::make_error_code(std::errc::bad_file_descriptor); }

std::span<const std::byte> as_bytes(std::string_view s) noexcept { return std::as_bytes(std::span(s)); }

}  // namespace

channel::channel() noexcept = default;

channel::channel(std::unique_ptr<stream> duplex, const channel_options& options)
    : core_(std::make_unique<detail::channel_core>(std::move(duplex), nullptr, true, options)) {}

channel::channel(std::unique_ptr<stream> reader, std::unique_ptr<stream> writer, const channel_options& options)
    : core_(std::make_unique<detail::channel_core>(std::move(reader), std::move(writer), false, options)) {}

channel::channel(handle_stream duplex, const channel_options& options)
    : channel(std::make_unique<handle_stream>(std::move(duplex)), options) {}

channel::channel(handle_stream reader, handle_stream writer, const channel_options& options)
    : channel(std::make_unique<handle_stream>(std::move(reader)), std::make_unique<handle_stream>(std::move(writer)),
              options) {}

channel::channel(channel&& other) noexcept = default;

channel& channel::operator=(channel&& other) noexcept {
  if (this != &other) {
    std::error_code ignored;
    close(ignored);
    core_ = std::move(other.core_);
  }
  return *this;
}

channel::~channel() {
  std::error_code ignored;
  close(ignored);
}

void channel::send(std::span<const std::byte> message) {
  std::error_code ec;
  send(message, no_deadline, ec);
  detail::throw_if(ec, "channel send");
}

void channel::send(std::string_view message) { send(as_bytes(message)); }

void channel::send(std::span<const std::byte> message, deadline until) {
  std::error_code ec;
  send(message, until, ec);
  detail::throw_if(ec, "channel send");
}

void channel::send(std::string_view message, deadline until) { send(as_bytes(message), until); }

void channel::send(std::span<const std::byte> message, deadline until, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return;
  }
  const std::span<const std::byte> one[1] = {message};
  (void)core_->send_frames(1, detail::message_list{one, {}}, until, ec);
}

void channel::send(std::string_view message, deadline until, std::error_code& ec) noexcept {
  send(as_bytes(message), until, ec);
}

std::size_t channel::send_batch(std::span<const std::span<const std::byte>> messages) {
  std::error_code ec;
  const std::size_t n = send_batch(messages, no_deadline, ec);
  detail::throw_if(ec, "channel send_batch");
  return n;
}

std::size_t channel::send_batch(std::span<const std::string_view> messages) {
  std::error_code ec;
  const std::size_t n = send_batch(messages, no_deadline, ec);
  detail::throw_if(ec, "channel send_batch");
  return n;
}

std::size_t channel::send_batch(std::span<const std::span<const std::byte>> messages, deadline until,
                                std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return 0;
  }
  if (messages.empty()) {
    ec.clear();
    return 0;
  }
  return core_->send_frames(messages.size(), detail::message_list{messages, {}}, until, ec);
}

std::size_t channel::send_batch(std::span<const std::string_view> messages, deadline until,
                                std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return 0;
  }
  if (messages.empty()) {
    ec.clear();
    return 0;
  }
  return core_->send_frames(messages.size(), detail::message_list{{}, messages}, until, ec);
}

void channel::post(std::span<const std::byte> message) {
  std::error_code ec;
  post(message, ec);
  detail::throw_if(ec, "channel post");
}

void channel::post(std::string_view message) { post(as_bytes(message)); }

void channel::post(std::span<const std::byte> message, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return;
  }
  core_->post(message, ec);
}

void channel::post(std::string_view message, std::error_code& ec) noexcept { post(as_bytes(message), ec); }

bool channel::flush(deadline until) {
  std::error_code ec;
  const bool done = flush(until, ec);
  detail::throw_if(ec, "channel flush");
  return done;
}

bool channel::flush(deadline until, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return false;
  }
  return core_->flush(until, ec);
}

std::size_t channel::pending_outgoing() const noexcept { return core_ ? core_->pending_outgoing() : 0; }

bool channel::recv(std::string& out) {
  std::error_code ec;
  const bool got = recv(out, no_deadline, ec);
  detail::throw_if(ec, "channel recv");
  return got;
}

bool channel::recv(std::string& out, deadline until) {
  std::error_code ec;
  const bool got = recv(out, until, ec);
  detail::throw_if(ec, "channel recv");
  return got;
}

bool channel::recv(std::string& out, deadline until, std::error_code& ec) noexcept {
  if (!core_) {
    ec = closed_error();
    return false;
  }
  return core_->recv(out, until, ec);
}

std::optional<std::string> channel::recv() { return recv(no_deadline); }

std::optional<std::string> channel::recv(deadline until) {
  std::string out;
  if (!recv(out, until)) return std::nullopt;
  return out;
}

std::optional<std::string> channel::recv(deadline until, std::error_code& ec) noexcept {
  std::string out;
  if (!recv(out, until, ec)) return std::nullopt;
  return out;
}

void channel::close_send() {
  std::error_code ec;
  close_send(ec);
  detail::throw_if(ec, "channel close_send");
}

void channel::close_send(std::error_code& ec) noexcept {
  if (!core_) {
    ec.clear();
    return;
  }
  core_->close_send(ec);
}

void channel::close() {
  std::error_code ec;
  close(ec);
  detail::throw_if(ec, "channel close");
}

void channel::close(std::error_code& ec) noexcept {
  ec.clear();
  if (core_) core_->close(ec);
}

bool channel::is_open() const noexcept { return core_ && core_->is_open(); }
bool channel::can_send() const noexcept { return core_ && core_->can_send(); }
bool channel::can_recv() const noexcept { return core_ && core_->can_recv(); }
stream* channel::reader() noexcept { return core_ ? core_->reader() : nullptr; }
stream* channel::writer() noexcept { return core_ ? core_->writer() : nullptr; }
native_handle_type channel::read_handle() const noexcept {
  return core_ ? core_->read_handle() : invalid_native_handle;
}
native_handle_type channel::write_handle() const noexcept {
  return core_ ? core_->write_handle() : invalid_native_handle;
}
poll_source* channel::event_source() noexcept { return core_.get(); }
native_handle_type channel::native_handle() const noexcept {
  const native_handle_type r = read_handle();
  const native_handle_type w = write_handle();
  if (r == invalid_native_handle) return w;
  if (w == invalid_native_handle || w == r) return r;
  return invalid_native_handle;
}
std::size_t channel::buffered_incoming() const noexcept { return core_ ? core_->buffered_incoming() : 0; }

const channel_options& channel::options() const noexcept {
  static const channel_options defaults{};
  return core_ ? core_->options() : defaults;
}

}  // namespace pipekit
