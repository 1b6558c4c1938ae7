// Internal interface of the local-server API (include/pipekit/local.hpp).
// src/local.cpp holds the portable half (throwing forms, the connection's
// stream plumbing); src/posix/local_posix.cpp and
// src/windows/local_windows.cpp implement the functions below and listen()
// and accept(), each with its own local_server::impl (in
// posix/local_server_impl.hpp, windows/local_server_impl.hpp); the other
// local_server members are portable, in src/local.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "pipekit/local.hpp"

namespace pipekit::detail {

struct local_access {
  static local_connection make_connection(handle h, local_mode mode, bool server_end) noexcept {
    local_connection c;
    c.h_ = std::move(h);
    c.mode_ = mode;
    c.server_end_ = server_end;
    return c;
  }
  static bool server_end(const local_connection& c) noexcept { return c.server_end_; }
};

// One read: at most one message in message mode (see local.hpp for a buffer
// smaller than the message). 0 at end of stream.
std::size_t local_read(native_handle_type h, local_mode mode, std::span<std::byte> buf, std::error_code& ec) noexcept;
// One write; in message mode, the whole of `data` as one message.
std::size_t local_write(native_handle_type h, local_mode mode, std::span<const std::byte> data,
                        std::error_code& ec) noexcept;
// What stream::write_some() with a deadline may write at once.
std::size_t local_write_limit(local_mode mode) noexcept;

std::optional<std::string> local_receive_message(native_handle_type h, deadline until, std::error_code& ec) noexcept;
void local_send_message(native_handle_type h, std::span<const std::byte> data, deadline until,
                        std::error_code& ec) noexcept;
peer_credentials local_peer(native_handle_type h, bool server_end, std::error_code& ec) noexcept;

}  // namespace pipekit::detail
