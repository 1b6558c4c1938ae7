// Local servers on Windows: named-pipe instances in byte or message mode.
// The server always keeps one instance with an overlapped ConnectNamedPipe
// pending, so a client can connect while the program is busy with earlier
// ones; accept() waits on that operation's event with the deadline.
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <new>
#include <thread>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/local.hpp"
#include "sys/io.hpp"
#include "sys/local.hpp"
#include "windows/local_server_impl.hpp"
#include "windows/overlapped.hpp"
#include "windows/win_error.hpp"

namespace pipekit {

namespace detail {
namespace {

std::wstring pipe_name(const std::string& name) {
  // "\\.\pipe\NAME" (or any "\\server\pipe\NAME") is used as given.
  if (name.rfind("\\\\", 0) == 0) return to_wide(name);
  return L"\\\\.\\pipe\\" + to_wide(name);
}

// A DACL with one entry: GENERIC_ALL for the current user's SID. Without it a
// pipe gets the default DACL, which lets Everyone and anonymous read it.
// (Wine does not enforce pipe DACLs: under Wine this is set but not checked.)
bool make_security(local_server::impl& s, std::error_code& ec) {
  HANDLE token = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) {
    ec = last_win_error();
    return false;
  }
  handle token_owner{token};
  DWORD len = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &len);
  std::vector<unsigned char> user(len);
  if (len == 0 || !::GetTokenInformation(token, TokenUser, user.data(), len, &len)) {
    ec = last_win_error();
    return false;
  }
  PSID sid = reinterpret_cast<TOKEN_USER*>(user.data())->User.Sid;
  const DWORD acl_size = sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) - sizeof(DWORD) + ::GetLengthSid(sid);
  s.acl.assign(acl_size, 0);
  auto* acl = reinterpret_cast<ACL*>(s.acl.data());
  if (!::InitializeAcl(acl, acl_size, ACL_REVISION) || !::AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, sid) ||
      !::InitializeSecurityDescriptor(&s.sd, SECURITY_DESCRIPTOR_REVISION) ||
      !::SetSecurityDescriptorDacl(&s.sd, TRUE, acl, FALSE)) {
    ec = last_win_error();
    return false;
  }
  s.sa.nLength = sizeof s.sa;
  s.sa.lpSecurityDescriptor = &s.sd;
  s.sa.bInheritHandle = FALSE;
  return true;
}

// Creates the next instance and starts its overlapped connect.
bool start_instance(local_server::impl& s, std::error_code& ec) noexcept {
  const DWORD open_mode =
      PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (s.created_first ? 0 : FILE_FLAG_FIRST_PIPE_INSTANCE);
  const DWORD pipe_mode = (s.mode == local_mode::messages ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                                                          : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE) |
                          PIPE_WAIT | (s.allow_remote ? PIPE_ACCEPT_REMOTE_CLIENTS : PIPE_REJECT_REMOTE_CLIENTS);
  HANDLE h = ::CreateNamedPipeW(s.name.c_str(), open_mode, pipe_mode, PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, &s.sa);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD error = ::GetLastError();
    // FILE_FLAG_FIRST_PIPE_INSTANCE: another server owns the name.
    ec = (!s.created_first && error == ERROR_ACCESS_DENIED) ? std::make_error_code(std::errc::address_in_use)
                                                            : win_error(error);
    return false;
  }
  s.created_first = true;
  s.pending = handle{h};
  s.ov = OVERLAPPED{};
  s.ov.hEvent = event_without_port_packet(s.event.native_handle());
  s.connected_at_once = false;
  ::ResetEvent(s.event.native_handle());
  if (::ConnectNamedPipe(h, &s.ov)) {
    ::SetEvent(s.event.native_handle());
    return true;
  }
  const DWORD error = ::GetLastError();
  if (error == ERROR_IO_PENDING) return true;
  // A client connected between CreateNamedPipe and ConnectNamedPipe; or it
  // connected, wrote and closed already (ERROR_NO_DATA): what it wrote is
  // still there to read, so that is a connection to accept too.
  if (error == ERROR_PIPE_CONNECTED || error == ERROR_NO_DATA) {
    s.connected_at_once = true;
    ::SetEvent(s.event.native_handle());
    return true;
  }
  s.pending = handle{};
  ec = win_error(error);
  return false;
}

}  // namespace

std::size_t local_read(native_handle_type h, local_mode, std::span<std::byte> buf, std::error_code& ec) noexcept {
  // Not read_handle(): it loses the count of an ERROR_MORE_DATA that
  // completes at once. Here ERROR_MORE_DATA gives the first part of the
  // message and the rest stays readable.
  const DWORD room = clamp_dword(buf.size());
  const overlapped_result r = run_overlapped(
      h, [&](OVERLAPPED* ov) { return ::ReadFile(h, buf.data(), room, nullptr, ov); }, no_deadline);
  const DWORD n = r.bytes;
  switch (r.error) {
    case 0:
    case ERROR_MORE_DATA: return n;
    case ERROR_BROKEN_PIPE:
    case ERROR_HANDLE_EOF:
    case ERROR_PIPE_NOT_CONNECTED: return 0;  // end of stream, as read() returning 0
    default: ec = win_error(r.error); return 0;
  }
}

std::size_t local_write(native_handle_type h, local_mode, std::span<const std::byte> data,
                        std::error_code& ec) noexcept {
  return write_handle(h, handle_kind::pipe, data, ec);
}

std::size_t local_write_limit(local_mode) noexcept { return static_cast<std::size_t>(-1); }

std::optional<std::string> local_receive_message(native_handle_type h, deadline until, std::error_code& ec) noexcept
    try {
  std::string out;
  std::size_t used = 0;
  for (;;) {
    if (out.size() - used < 4096) out.resize(std::max<std::size_t>(65536, out.size() * 2));
    const DWORD room = clamp_dword(out.size() - used);
    // Once part of a message arrived the rest is already written: no deadline.
    const overlapped_result r = run_overlapped(
        h, [&](OVERLAPPED* ov) { return ::ReadFile(h, out.data() + used, room, nullptr, ov); },
        used == 0 ? until : no_deadline);
    const DWORD n = r.bytes;
    const DWORD error = r.error;
    if (r.timed_out) {
      ec = make_error_code(errc::timed_out);
      return std::nullopt;
    }
    used += n;
    if (error == 0) {
      out.resize(used);
      return out;
    }
    if (error == ERROR_MORE_DATA) {
      // Size the buffer for what is left of this message.
      DWORD left = 0;
      if (::PeekNamedPipe(h, nullptr, 0, nullptr, nullptr, &left) && left > 0 && out.size() - used < left)
        out.resize(used + left);
      continue;
    }
    if (error == ERROR_BROKEN_PIPE || error == ERROR_PIPE_NOT_CONNECTED || error == ERROR_HANDLE_EOF) {
      if (used != 0) ec = make_error_code(errc::protocol_error);  // cut off mid-message
      return std::nullopt;
    }
    ec = win_error(error);
    return std::nullopt;
  }
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return std::nullopt;
}

void local_send_message(native_handle_type h, std::span<const std::byte> data, deadline until,
                        std::error_code& ec) noexcept {
  if (data.size() > 0x7fffffff) {
    ec = make_error_code(errc::message_too_large);
    return;
  }
  const overlapped_result r = run_overlapped(
      h, [&](OVERLAPPED* ov) { return ::WriteFile(h, data.data(), static_cast<DWORD>(data.size()), nullptr, ov); },
      until);
  if (r.timed_out) {
    ec = make_error_code(errc::timed_out);
  } else if (r.error != 0) {
    ec = win_error(r.error);
  } else if (r.bytes != data.size()) {
    ec = make_error_code(errc::protocol_error);  // a message pipe writes all or nothing
  }
}

peer_credentials local_peer(native_handle_type h, bool server_end, std::error_code& ec) noexcept {
  peer_credentials p;
  ULONG pid = 0;
  const BOOL ok = server_end ? ::GetNamedPipeClientProcessId(h, &pid) : ::GetNamedPipeServerProcessId(h, &pid);
  if (!ok) {
    ec = last_win_error();
    return p;
  }
  p.pid = static_cast<std::int64_t>(pid);
  return p;  // Windows has no uid: a SID would need its own type
}

}  // namespace detail

local_server local_server::listen(const std::string& name, const listen_options& options, std::error_code& ec) noexcept
    try {
  ec.clear();
  if (name.empty()) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  auto p = std::make_unique<impl>();
  p->name = detail::pipe_name(name);
  p->mode = options.mode;
  p->allow_remote = options.allow_remote;
  p->event = handle{::CreateEventW(nullptr, TRUE, FALSE, nullptr)};
  if (!p->event.native_handle()) {
    (void)p->event.release();
    ec = detail::last_win_error();
    return {};
  }
  if (!detail::make_security(*p, ec) || !detail::start_instance(*p, ec)) return {};
  return local_server{std::move(p)};
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

local_connection local_server::accept(deadline until, std::error_code& ec) noexcept {
  ec.clear();
  if (!impl_) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return {};
  }
  impl& s = *impl_;
  for (;;) {
    // A previous accept() could not start the next instance: try again now.
    if (!s.pending.is_open() && !detail::start_instance(s, ec)) return {};
    const DWORD r = ::WaitForSingleObject(s.event.native_handle(), detail::wait_ms(until));
    if (r == WAIT_TIMEOUT) {
      if (clock::now() < until) continue;
      ec = make_error_code(errc::timed_out);  // the instance stays ready for the next call
      return {};
    }
    if (r != WAIT_OBJECT_0) {
      ec = detail::last_win_error();
      return {};
    }
    DWORD n = 0;
    const bool ok = s.connected_at_once || ::GetOverlappedResult(s.pending.native_handle(), &s.ov, &n, FALSE);
    handle conn = std::move(s.pending);
    // The next client finds an instance ready before this one is served.
    std::error_code next_ec;
    detail::start_instance(s, next_ec);
    if (!ok) continue;  // a client that came and went before we looked: not the server's error
    return detail::local_access::make_connection(std::move(conn), s.mode, true);
  }
}

local_connection connect_local(const std::string& name, local_mode mode, deadline until, std::error_code& ec) noexcept
    try {
  ec.clear();
  if (name.empty()) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  const std::wstring wname = detail::pipe_name(name);
  for (;;) {
    // SECURITY_IDENTIFICATION: the server may learn who we are, but not act as us.
    HANDLE h = ::CreateFileW(wname.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                             FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, nullptr);
    if (h != INVALID_HANDLE_VALUE) {
      handle owned{h};
      if (mode == local_mode::messages) {
        DWORD read_mode = PIPE_READMODE_MESSAGE;
        if (!::SetNamedPipeHandleState(h, &read_mode, nullptr, nullptr)) {
          ec = detail::last_win_error();  // e.g. a byte-mode server
          return {};
        }
      }
      return detail::local_access::make_connection(std::move(owned), mode, false);
    }
    const DWORD error = ::GetLastError();
    const auto now = clock::now();
    if (error == ERROR_PIPE_BUSY) {
      // Every instance is taken: wait for the server to offer the next one.
      if (now >= until) {
        ec = make_error_code(errc::timed_out);
        return {};
      }
      const DWORD ms = until == no_deadline ? NMPWAIT_WAIT_FOREVER : std::max<DWORD>(1, detail::wait_ms(until));
      ::WaitNamedPipeW(wname.c_str(), ms);
      continue;
    }
    if (error == ERROR_FILE_NOT_FOUND && until != no_deadline) {
      // No server yet: with a deadline, wait for one to appear.
      if (now >= until) {
        ec = make_error_code(errc::timed_out);
        return {};
      }
      std::this_thread::sleep_for(std::min<clock::duration>(std::chrono::milliseconds(10), until - now));
      continue;
    }
    ec = detail::win_error(error);
    return {};
  }
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

}  // namespace pipekit
