// stdio::pty() on Windows: a pseudo console (ConPTY) relayed to one duplex
// pipe. See conpty.hpp for why there is a relay at all.
//
// The relay is two threads per child, and they own everything they touch
// (through a shared_ptr), so the process object can go away at any moment:
// - the output pump copies the console's output into the pipe until the
//   console closes its end (it has exited) or the parent's end is gone; then
//   it closes the console's output pipe, so that nothing the console writes
//   afterwards can block;
// - the input pump copies the pipe into the console's input until the child
//   exits, then closes the console. ClosePseudoConsole waits (before Windows
//   11 24H2) until the console has written its last frame and exited, which
//   needs someone draining its output: the output pump, on its own thread,
//   as Microsoft's documentation asks. Once the output pump has finished,
//   the input pump closes the relay's end of the pipe: the parent reads the
//   last of the output, then end of stream, as it would from a pty master
//   once the child is gone.
// Closing the console ends any other process still attached to it
// (CTRL_CLOSE_EVENT), as the end of a session's leader hangs up a POSIX
// terminal.
#include <windows.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "pipekit/error.hpp"
#include "windows/conpty.hpp"
#include "windows/win_error.hpp"
#include "windows/win_pipe.hpp"

namespace pipekit::detail {

namespace {

// Resolved at run time: a static import of CreatePseudoConsole would keep
// every program linking pipekit from starting on Windows before 10 1809.
using create_fn = HRESULT(WINAPI*)(COORD, HANDLE, HANDLE, DWORD, void**);
using resize_fn = HRESULT(WINAPI*)(void*, COORD);
using close_fn = void(WINAPI*)(void*);

struct conpty_api {
  create_fn create = nullptr;
  resize_fn resize = nullptr;
  close_fn close = nullptr;
};

template <class F>
F function_at(FARPROC p) noexcept {
  return reinterpret_cast<F>(reinterpret_cast<void (*)()>(p));  // via void(*)(): no cast-function-type warning
}

const conpty_api* load_api() noexcept {
  static const conpty_api api = [] {
    conpty_api a;
    if (const HMODULE kernel32 = ::GetModuleHandleW(L"kernel32.dll")) {
      a.create = function_at<create_fn>(::GetProcAddress(kernel32, "CreatePseudoConsole"));
      a.resize = function_at<resize_fn>(::GetProcAddress(kernel32, "ResizePseudoConsole"));
      a.close = function_at<close_fn>(::GetProcAddress(kernel32, "ClosePseudoConsole"));
    }
    return a;
  }();
  return api.create != nullptr && api.resize != nullptr && api.close != nullptr ? &api : nullptr;
}

std::error_code hresult_error(HRESULT hr) noexcept {
  if (HRESULT_FACILITY(hr) == FACILITY_WIN32) return win_error(HRESULT_CODE(hr));
  switch (hr) {
    case E_NOTIMPL: return make_error_code(errc::not_supported);  // Wine 8's ResizePseudoConsole
    case E_INVALIDARG: return make_error_code(errc::invalid_argument);
    case E_OUTOFMEMORY: return std::make_error_code(std::errc::not_enough_memory);
    default: return win_error(static_cast<unsigned long>(hr));  // FormatMessage knows most HRESULTs
  }
}

COORD to_coord(terminal_size size) noexcept {
  const auto clamp = [](unsigned short v) { return static_cast<SHORT>(std::min<unsigned short>(v, 0x7fff)); };
  return COORD{clamp(size.columns), clamp(size.rows)};
}

// A manual-reset event, or an invalid handle (CreateEventW fails with NULL).
handle make_event(std::error_code& ec) noexcept {
  const HANDLE h = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (h == nullptr) {
    ec = last_win_error();
    return {};
  }
  return handle{h};
}

constexpr DWORD terminal_buffer = 64 * 1024;
constexpr DWORD console_buffer = 64 * 1024;

// The terminal pipe: one named pipe instance, both ends overlapped, so the
// parent reads and writes its end from two threads at once and the relay
// does the same with the other.
bool make_terminal_pipe(handle& parent_end, handle& relay_end, std::error_code& ec) noexcept {
  make_win_duplex_pipe(terminal_buffer, parent_end, relay_end, ec);
  return !ec;
}

}  // namespace

struct conpty_session {
  const conpty_api* api = nullptr;
  std::mutex mutex;         // a resize must not use the console while it is being closed
  void* console = nullptr;  // the HPCON, until closed
  handle parent_end;        // the terminal pipe's end for process::terminal(), until start()
  handle relay;             // the other end of the terminal pipe (overlapped)
  handle input;             // writes into the console's input pipe (overlapped)
  handle output;            // reads the console's output pipe (synchronous: one reader)
  handle child;             // the child's process handle, to wait for its exit
  handle relay_read_event, input_write_event, relay_write_event, output_done;
  native_handle_type terminal = invalid_native_handle;  // the parent's end: what resize_conpty gets
  std::atomic<bool> aborted{false};                     // start() failed: the threads leave at once

  void close_console() noexcept {
    void* pc = nullptr;
    {
      const std::lock_guard lock(mutex);
      pc = std::exchange(console, nullptr);
    }
    if (pc != nullptr) api->close(pc);
  }
};

namespace {

// The sessions by the parent's end of their terminal pipe, for resize_conpty.
// Leaked on purpose: relay threads may outlive static destruction.
struct session_registry {
  std::mutex mutex;
  std::vector<std::pair<native_handle_type, std::weak_ptr<conpty_session>>> sessions;
};

session_registry& registry() {
  static auto* r = new session_registry;
  return *r;
}

void enroll(const std::shared_ptr<conpty_session>& s) {
  session_registry& r = registry();
  const std::lock_guard lock(r.mutex);
  // A handle value is unique while open: an older entry with this value
  // belongs to a session whose parent end is closed already.
  std::erase_if(r.sessions, [&](const auto& e) { return e.first == s->terminal || e.second.expired(); });
  r.sessions.emplace_back(s->terminal, s);
}

void withdraw(const conpty_session* s) noexcept {
  session_registry& r = registry();
  const std::lock_guard lock(r.mutex);
  std::erase_if(r.sessions, [&](const auto& e) {
    const auto alive = e.second.lock();
    return !alive || alive.get() == s;
  });
}

std::shared_ptr<conpty_session> find(native_handle_type terminal) noexcept {
  session_registry& r = registry();
  const std::lock_guard lock(r.mutex);
  for (const auto& [key, session] : r.sessions)
    if (key == terminal) return session.lock();
  return nullptr;
}

// Writes all of [p, p + n) to an overlapped handle; false when it fails.
bool write_all(HANDLE h, const char* p, DWORD n, HANDLE event) noexcept {
  while (n > 0) {
    OVERLAPPED ov{};
    ov.hEvent = event;
    DWORD done = 0;
    if (!::WriteFile(h, p, n, nullptr, &ov) && ::GetLastError() != ERROR_IO_PENDING) return false;
    if (!::GetOverlappedResult(h, &ov, &done, TRUE)) return false;
    p += done;
    n -= done;
  }
  return true;
}

void output_pump(conpty_session& s) noexcept {
  std::array<char, 16 * 1024> buf{};
  for (;;) {
    DWORD n = 0;
    // Fails (ERROR_BROKEN_PIPE) once the console has exited.
    if (!::ReadFile(s.output.native_handle(), buf.data(), static_cast<DWORD>(buf.size()), &n, nullptr)) break;
    // A write fails once the parent has closed its end.
    if (n > 0 && !write_all(s.relay.native_handle(), buf.data(), n, s.relay_write_event.native_handle())) break;
  }
  std::error_code ignored;
  s.output.close(ignored);
  ::SetEvent(s.output_done.native_handle());
}

// Copies the terminal pipe into the console's input until the child exits.
// Both operations are overlapped, so the child's exit is seen even while one
// waits (a child that never reads its input leaves a write pending).
void relay_input(conpty_session& s) noexcept {
  enum class state { idle, reading, writing, closed };
  const HANDLE relay = s.relay.native_handle();
  const HANDLE input = s.input.native_handle();
  std::array<char, 4096> buf{};
  OVERLAPPED rd{};
  OVERLAPPED wr{};
  DWORD have = 0;
  DWORD sent = 0;
  const auto start_write = [&] {
    wr = OVERLAPPED{};
    wr.hEvent = s.input_write_event.native_handle();
    const bool ok =
        ::WriteFile(input, buf.data() + sent, have - sent, nullptr, &wr) || ::GetLastError() == ERROR_IO_PENDING;
    return ok ? state::writing : state::closed;  // closed: the console is gone
  };
  state st = state::idle;
  for (;;) {
    if (st == state::idle) {
      rd = OVERLAPPED{};
      rd.hEvent = s.relay_read_event.native_handle();
      const bool ok = ::ReadFile(relay, buf.data(), static_cast<DWORD>(buf.size()), nullptr, &rd) ||
                      ::GetLastError() == ERROR_IO_PENDING;
      st = ok ? state::reading : state::closed;  // closed: the parent closed its end
    }
    const HANDLE waits[2] = {s.child.native_handle(), st == state::reading ? rd.hEvent : wr.hEvent};
    const DWORD r = ::WaitForMultipleObjects(st == state::closed ? 1 : 2, waits, FALSE, INFINITE);
    if (r != WAIT_OBJECT_0 + 1) {
      // The child has exited. (A failed wait cannot happen with these
      // handles; if it did, closing the console would kill a running child,
      // so wait for its exit the plain way first.)
      if (r != WAIT_OBJECT_0) ::WaitForSingleObject(s.child.native_handle(), INFINITE);
      break;
    }
    DWORD moved = 0;
    if (st == state::reading) {
      if (!::GetOverlappedResult(relay, &rd, &moved, FALSE)) {
        st = state::closed;
        continue;
      }
      have = moved;
      sent = 0;
      st = have == 0 ? state::idle : start_write();
    } else {
      if (!::GetOverlappedResult(input, &wr, &moved, FALSE)) {
        st = state::closed;
        continue;
      }
      sent += moved;
      st = sent < have ? start_write() : state::idle;
    }
  }
  // The OVERLAPPEDs live on this stack: nothing may stay in flight.
  DWORD ignored = 0;
  if (st == state::reading && ::CancelIoEx(relay, &rd)) ::GetOverlappedResult(relay, &rd, &ignored, TRUE);
  if (st == state::writing && ::CancelIoEx(input, &wr)) ::GetOverlappedResult(input, &wr, &ignored, TRUE);
}

void input_pump(conpty_session& s) noexcept {
  relay_input(s);
  // Here the output pump is still draining: ClosePseudoConsole may wait for
  // the console's last frame, never for us.
  s.close_console();
  ::WaitForSingleObject(s.output_done.native_handle(), INFINITE);
  // Every byte of output is in the pipe now: the parent reads them, then end
  // of stream.
  std::error_code ignored;
  s.relay.close(ignored);
  withdraw(&s);
}

template <void (*Body)(conpty_session&)>
DWORD WINAPI thread_main(void* arg) {
  const std::unique_ptr<std::shared_ptr<conpty_session>> session(static_cast<std::shared_ptr<conpty_session>*>(arg));
  if (!(*session)->aborted.load()) Body(**session);
  return 0;
}

// A suspended thread running Body on the session; null on failure.
template <void (*Body)(conpty_session&)>
HANDLE suspended_thread(const std::shared_ptr<conpty_session>& s, std::error_code& ec) noexcept try {
  auto arg = std::make_unique<std::shared_ptr<conpty_session>>(s);
  // The pumps need little stack: reserve 64 KiB, not the default 1 MiB.
  const HANDLE t = ::CreateThread(nullptr, 64 * 1024, &thread_main<Body>, arg.get(),
                                  CREATE_SUSPENDED | STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (t == nullptr) {
    ec = last_win_error();
    return nullptr;
  }
  (void)arg.release();  // the thread owns it now
  return t;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return nullptr;
}

}  // namespace

conpty::~conpty() {
  if (!s_) return;
  // Never started: no pump drains the console's output, so close our end of
  // it first, then the console cannot wait for it.
  std::error_code ignored;
  s_->output.close(ignored);
  s_->close_console();
}

conpty conpty::open(terminal_size size, std::error_code& ec) noexcept try {
  ec.clear();
  const conpty_api* api = load_api();
  if (api == nullptr) {
    ec = make_error_code(errc::not_supported);
    return {};
  }
  auto s = std::make_shared<conpty_session>();
  s->api = api;
  // The console's ends are synchronous, as CreatePseudoConsole requires.
  win_pipe_ends in = make_win_pipe(console_buffer, false, true, ec);
  if (ec) return {};
  win_pipe_ends out = make_win_pipe(console_buffer, false, false, ec);
  if (ec) return {};
  if (!make_terminal_pipe(s->parent_end, s->relay, ec)) return {};
  for (handle* e : {&s->relay_read_event, &s->input_write_event, &s->relay_write_event, &s->output_done}) {
    *e = make_event(ec);
    if (ec) return {};
  }
  void* pc = nullptr;
  const HRESULT hr = api->create(to_coord(size), in.read_end.native_handle(), out.write_end.native_handle(), 0, &pc);
  if (FAILED(hr)) {
    ec = hresult_error(hr);
    return {};
  }
  s->console = pc;
  // The console keeps duplicates of its ends; ours (closed with `in` and
  // `out`) would keep the output pipe open after the console is gone, and
  // the output pump would never see its end.
  s->input = std::move(in.write_end);
  s->output = std::move(out.read_end);
  conpty c;
  c.s_ = std::move(s);
  return c;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

void* conpty::console() const noexcept { return s_ ? s_->console : nullptr; }

handle conpty::start(native_handle_type process, std::error_code& ec) noexcept try {
  ec.clear();
  if (!s_) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  HANDLE child = nullptr;
  const HANDLE self = ::GetCurrentProcess();
  if (!::DuplicateHandle(self, process, self, &child, SYNCHRONIZE, FALSE, 0)) {
    ec = last_win_error();
    return {};
  }
  s_->child = handle{child};
  s_->terminal = s_->parent_end.native_handle();
  enroll(s_);
  const HANDLE output_thread = suspended_thread<output_pump>(s_, ec);
  if (output_thread == nullptr) {
    withdraw(s_.get());
    return {};
  }
  const HANDLE input_thread = suspended_thread<input_pump>(s_, ec);
  if (input_thread == nullptr) {
    withdraw(s_.get());
    s_->aborted = true;  // the output pump leaves without touching anything; ~conpty cleans up
    ::ResumeThread(output_thread);
    ::CloseHandle(output_thread);
    return {};
  }
  ::ResumeThread(output_thread);
  ::ResumeThread(input_thread);
  ::CloseHandle(output_thread);
  ::CloseHandle(input_thread);
  handle parent_end = std::move(s_->parent_end);
  s_.reset();  // the pumps own the session now
  return parent_end;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return {};
}

void resize_conpty(native_handle_type terminal, terminal_size size, std::error_code& ec) noexcept {
  const std::shared_ptr<conpty_session> s = find(terminal);
  if (!s) {
    ec = make_error_code(errc::process_not_running);  // the child has exited and its console is closed
    return;
  }
  const std::lock_guard lock(s->mutex);
  if (s->console == nullptr) {
    ec = make_error_code(errc::process_not_running);
    return;
  }
  const HRESULT hr = s->api->resize(s->console, to_coord(size));
  if (FAILED(hr)) ec = hresult_error(hr);
}

}  // namespace pipekit::detail
