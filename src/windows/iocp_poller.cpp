// The Windows poller: one I/O completion port that every kind of handle
// reports to.
//
// Windows has completions, not readiness, so readiness is made from them:
// - an overlapped byte-mode pipe is bound to the port and gets a pending
//   zero-byte read, which completes when data or the end of the stream
//   arrives and takes nothing away (the trick libuv uses); a pipe bound to a
//   port already (another poller's, or ours by an earlier add()) is asked
//   with PeekNamedPipe like the next kind;
// - waitable objects (process and thread handles, events) get a thread-pool
//   wait whose callback posts a packet to the port;
// - synchronous pipe handles and message-mode pipes are asked with
//   PeekNamedPipe on a short, growing period (a zero-byte read would block
//   on the first and swallow an empty message on the second);
// - files and consoles are always ready, as poll() says on POSIX.
// Pipes have no write readiness on Windows: a pipe registered for writable
// is always reported writable (use write_some() with a deadline, which
// cancels an overlapped write, to never block past it).
//
// Level-triggered like the POSIX backends: a reported handle gets its next
// zero-byte read (or wait) on the next wait(), which completes at once if
// the data is still there.
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <new>
#include <unordered_map>
#include <vector>

#include "pipekit/error.hpp"
#include "sys/io.hpp"
#include "sys/poller_impl.hpp"
#include "windows/overlapped.hpp"
#include "windows/win_error.hpp"

namespace pipekit::detail {
namespace {

// Completion keys of the packets in our port.
constexpr ULONG_PTR key_io = 1;        // a zero-byte read of a bound pipe finished
constexpr ULONG_PTR key_wake = 2;      // wake()
constexpr ULONG_PTR key_signaled = 3;  // a waitable object is signalled; the OVERLAPPED* field carries the entry id

// NTSTATUS values a zero-byte read may end with (ntstatus.h is not part of
// the windows.h set).
constexpr ULONG_PTR status_cancelled = 0xC0000120;
constexpr ULONG_PTR status_pipe_broken = 0xC000014B;
constexpr ULONG_PTR status_pipe_disconnected = 0xC00000B0;
constexpr ULONG_PTR status_end_of_file = 0xC0000011;
constexpr ULONG_PTR status_buffer_overflow = 0x80000005;  // message mode: more data

// How long the PeekNamedPipe period grows to while nothing happens.
constexpr auto max_poll_period = std::chrono::milliseconds(10);

enum class method { zero_read, peek, waitable, always };

struct wait_context {
  HANDLE port = nullptr;
  std::uint64_t id = 0;
};

struct entry {
  OVERLAPPED ov{};  // the pending zero-byte read; alive until its packet arrives
  HANDLE h = nullptr;
  events interest = events::none;
  std::uint64_t token = 0;
  std::uint64_t id = 0;
  method how = method::always;
  bool read_pending = false;
  HANDLE wait = nullptr;  // thread-pool wait of a waitable object
  wait_context context;
  events ready = events::none;
};

class iocp_poller final : public poller_impl {
 public:
  explicit iocp_poller(HANDLE port) noexcept : port_(port) {}

  ~iocp_poller() override {
    for (auto& [h, e] : entries_) retire(std::move(e));
    entries_.clear();
    // Cancelled reads still owe a packet, and the kernel writes into their
    // OVERLAPPED until then. A handle closed meanwhile was cancelled by the
    // close and reports too. If a packet never comes, the entry is leaked
    // rather than freed under the kernel's feet.
    const deadline give_up = after(std::chrono::seconds(2));
    while (!retired_.empty() && clock::now() < give_up) {
      OVERLAPPED_ENTRY got[16];
      ULONG count = 0;
      if (!::GetQueuedCompletionStatusEx(port_, got, 16, &count, 100, FALSE)) continue;
      for (ULONG i = 0; i < count; ++i)
        if (got[i].lpCompletionKey == key_io) retired_.erase(got[i].lpOverlapped);
    }
    for (auto& [ov, e] : retired_) (void)e.release();
    ::CloseHandle(port_);
  }

  void add(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override try {
    if (h == nullptr || h == INVALID_HANDLE_VALUE) {
      ec = std::make_error_code(std::errc::bad_file_descriptor);
      return;
    }
    if (entries_.count(h) != 0) {
      ec = std::make_error_code(std::errc::file_exists);
      return;
    }
    auto e = std::make_unique<entry>();
    e->h = h;
    e->interest = interest;
    e->token = token;
    e->id = ++last_id_;
    e->how = choose_method(h, ec);
    if (ec) return;
    by_id_[e->id] = e.get();
    entries_[h] = std::move(e);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }

  void modify(native_handle_type h, events interest, std::uint64_t token, std::error_code& ec) noexcept override {
    const auto it = entries_.find(h);
    if (it == entries_.end()) {
      ec = std::make_error_code(std::errc::no_such_file_or_directory);
      return;
    }
    entry& e = *it->second;
    e.interest = interest;
    e.token = token;
    e.ready = e.ready & interest;
    // A pending zero-byte read or wait that is no longer wanted just
    // finishes unnoticed; its result is masked by the interest.
  }

  void remove(native_handle_type h, std::error_code& ec) noexcept override {
    const auto it = entries_.find(h);
    if (it == entries_.end()) {
      ec = std::make_error_code(std::errc::no_such_file_or_directory);
      return;
    }
    std::unique_ptr<entry> e = std::move(it->second);
    entries_.erase(it);
    retire(std::move(e));
  }

  std::size_t wait(std::span<poll_event> out, deadline until, std::error_code& ec) noexcept override try {
    auto period = std::chrono::microseconds(500);
    for (;;) {
      bool peeking = false;
      bool any_ready = false;
      for (auto& [h, e] : entries_) {
        arm(*e, peeking);
        any_ready = any_ready || any(e->ready & (e->interest | events::hangup | events::error));
      }
      // Ready entries are reported after a look at the port that does not
      // block; otherwise sleep until a packet, the deadline, or the next
      // PeekNamedPipe round.
      DWORD ms = 0;
      if (!any_ready) {
        ms = wait_ms(until);
        if (peeking) {
          const DWORD step = static_cast<DWORD>(std::chrono::ceil<std::chrono::milliseconds>(period).count());
          ms = std::min(ms, step);
          period = std::min<std::chrono::microseconds>(period * 2, max_poll_period);
        }
      }
      OVERLAPPED_ENTRY got[64];
      ULONG count = 0;
      bool woken = false;
      if (::GetQueuedCompletionStatusEx(port_, got, 64, &count, ms, FALSE)) {
        for (ULONG i = 0; i < count; ++i) woken = take_packet(got[i]) || woken;
      } else if (const DWORD error = ::GetLastError(); error != WAIT_TIMEOUT) {
        ec = win_error(error);
        return 0;
      }
      const std::size_t n = collect(out);
      if (n > 0 || woken || clock::now() >= until) return n;
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }

  void wake() noexcept override { ::PostQueuedCompletionStatus(port_, 0, key_wake, nullptr); }
  [[nodiscard]] poller_backend backend() const noexcept override { return poller_backend::iocp; }
  [[nodiscard]] std::size_t size() const noexcept override { return entries_.size(); }

 private:
  method choose_method(HANDLE h, std::error_code& ec) {
    const DWORD type = ::GetFileType(h);
    if (type == FILE_TYPE_PIPE) {
      if (!is_overlapped_handle(h) || is_message_pipe(h)) return method::peek;
      if (::CreateIoCompletionPort(h, port_, key_io, 0) != nullptr) return method::zero_read;
      // Already bound to a port (a binding cannot be undone): someone else's,
      // or ours from an earlier add() of this handle value, which may by now
      // name another pipe. Asking PeekNamedPipe is right in every case.
      return method::peek;
    }
    if (type == FILE_TYPE_DISK || type == FILE_TYPE_CHAR) return method::always;
    // Anything else must be a waitable object (process, thread, event...).
    if (::WaitForSingleObject(h, 0) == WAIT_FAILED) {
      ec = last_win_error();
      return method::always;
    }
    return method::waitable;
  }

  // Starts what tells us about `e` and records what is known already.
  void arm(entry& e, bool& peeking) {
    const bool wants_read = any(e.interest & events::readable);
    if (any(e.interest & events::writable) && e.how != method::waitable) e.ready = e.ready | events::writable;
    switch (e.how) {
      case method::always:
        if (wants_read) e.ready = e.ready | events::readable;
        break;
      case method::peek:
        if (wants_read && !any(e.ready & events::readable)) {
          DWORD available = 0;
          if (::PeekNamedPipe(e.h, nullptr, 0, nullptr, &available, nullptr)) {
            if (available > 0) {
              e.ready = e.ready | events::readable;
            } else {
              peeking = true;
            }
          } else {
            e.ready = e.ready | readiness_of_error(::GetLastError());
          }
        }
        break;
      case method::zero_read:
        if (wants_read && !e.read_pending && !any(e.ready & events::readable)) {
          e.ov = OVERLAPPED{};
          static std::byte none{};
          // Completed at once or pending, a packet comes either way.
          if (::ReadFile(e.h, &none, 0, nullptr, &e.ov) || ::GetLastError() == ERROR_IO_PENDING) {
            e.read_pending = true;
            pending_[&e.ov] = &e;
          } else {
            e.ready = e.ready | readiness_of_error(::GetLastError());
          }
        }
        break;
      case method::waitable:
        if (wants_read && e.wait == nullptr && !any(e.ready & events::readable)) {
          e.context = wait_context{port_, e.id};
          if (!::RegisterWaitForSingleObject(&e.wait, e.h, &iocp_poller::signaled, &e.context, INFINITE,
                                             WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD)) {
            e.wait = nullptr;
            e.ready = e.ready | events::error;
          }
        }
        break;
    }
  }

  static events readiness_of_error(DWORD error) noexcept {
    switch (error) {
      case ERROR_BROKEN_PIPE:
      case ERROR_PIPE_NOT_CONNECTED:
      case ERROR_HANDLE_EOF: return events::readable | events::hangup;  // the next read sees the end
      case ERROR_MORE_DATA: return events::readable;
      default: return events::readable | events::error;  // the next read reports it
    }
  }

  // The thread-pool callback of a waitable object: only posts a packet.
  // Its context lives in the entry, which retire() keeps until the
  // registration is gone.
  static void CALLBACK signaled(void* context, BOOLEAN) noexcept {
    const auto* c = static_cast<const wait_context*>(context);
    ::PostQueuedCompletionStatus(c->port, 0, key_signaled,
                                 reinterpret_cast<OVERLAPPED*>(static_cast<ULONG_PTR>(c->id)));
  }

  // Returns true for wake().
  bool take_packet(const OVERLAPPED_ENTRY& p) noexcept {
    if (p.lpCompletionKey == key_wake) return true;
    if (p.lpCompletionKey == key_signaled) {
      const auto id = static_cast<std::uint64_t>(reinterpret_cast<ULONG_PTR>(p.lpOverlapped));
      const auto it = by_id_.find(id);
      if (it != by_id_.end() && it->second->wait != nullptr) {
        entry& e = *it->second;
        ::UnregisterWaitEx(e.wait, nullptr);  // it fired once; free the registration
        e.wait = nullptr;
        e.ready = e.ready | events::readable;
      }
      return false;
    }
    if (p.lpCompletionKey != key_io) return false;
    if (const auto r = retired_.find(p.lpOverlapped); r != retired_.end()) {
      retired_.erase(r);  // the cancelled read of a removed handle is over
      return false;
    }
    const auto it = pending_.find(p.lpOverlapped);
    if (it == pending_.end()) return false;  // someone else's operation on a bound handle
    entry& e = *it->second;
    pending_.erase(it);
    e.read_pending = false;
    switch (e.ov.Internal) {
      case 0:
      case status_buffer_overflow: e.ready = e.ready | events::readable; break;
      case status_cancelled: break;
      case status_pipe_broken:
      case status_pipe_disconnected:
      case status_end_of_file: e.ready = e.ready | events::readable | events::hangup; break;
      default: e.ready = e.ready | events::readable | events::error; break;
    }
    return false;
  }

  // Starts where the last full `out` stopped (the map's order is stable
  // between calls), so that with a small `out` every ready handle takes
  // its turn.
  std::size_t collect(std::span<poll_event> out) noexcept {
    std::size_t n = 0;
    const std::size_t count = entries_.size();
    if (count == 0) return 0;
    const std::size_t start = first_ % count;
    for (int pass = 0; pass < 2 && n < out.size(); ++pass) {
      std::size_t index = 0;
      for (auto& [h, e] : entries_) {
        const bool in_pass = pass == 0 ? index >= start : index < start;
        ++index;
        if (!in_pass) continue;
        const events what = e->ready & (e->interest | events::hangup | events::error);
        if (!any(what)) continue;
        out[n++] = poll_event{e->token, what};
        e->ready = events::none;  // level-triggered: found again by the next arm()
        if (n == out.size()) {
          first_ = index;
          return n;
        }
      }
    }
    return n;
  }

  // Takes `e` out of service; a read in flight keeps it alive until its
  // packet arrives.
  void retire(std::unique_ptr<entry> e) noexcept {
    by_id_.erase(e->id);
    if (e->wait != nullptr) {
      ::UnregisterWaitEx(e->wait, INVALID_HANDLE_VALUE);  // waits for a running callback
      e->wait = nullptr;
    }
    if (e->read_pending) {
      pending_.erase(&e->ov);
      ::CancelIoEx(e->h, &e->ov);  // fails if the handle was closed: the close cancelled it
      OVERLAPPED* ov = &e->ov;
      try {
        retired_[ov] = std::move(e);
      } catch (const std::bad_alloc&) {
        (void)e.release();  // cannot track it: leak rather than free memory the kernel writes
      }
    }
  }

  HANDLE port_;
  std::uint64_t last_id_ = 0;
  std::unordered_map<HANDLE, std::unique_ptr<entry>> entries_;
  std::size_t first_ = 0;  // where collect() starts, in entries_' order
  std::unordered_map<std::uint64_t, entry*> by_id_;
  std::unordered_map<const OVERLAPPED*, entry*> pending_;
  std::unordered_map<const OVERLAPPED*, std::unique_ptr<entry>> retired_;
};

}  // namespace

std::unique_ptr<poller_impl> make_iocp_poller(std::error_code& ec) noexcept {
  HANDLE port = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
  if (port == nullptr) {
    ec = last_win_error();
    return nullptr;
  }
  auto p = std::unique_ptr<poller_impl>(new (std::nothrow) iocp_poller(port));
  if (!p) {
    ::CloseHandle(port);
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return p;
}

}  // namespace pipekit::detail
