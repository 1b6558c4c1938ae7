// communicate() with overlapped I/O: a read pending on stdout and on stderr
// and a write pending on stdin at all times, and one
// WaitForMultipleObjects over their events. Nothing blocks on one stream
// while another fills, so no deadlock whatever the sizes, and no threads.
#include <windows.h>

#include <algorithm>
#include <array>

#include "pipekit/error.hpp"
#include "sys/communicate.hpp"
#include "sys/io.hpp"
#include "windows/overlapped.hpp"
#include "windows/win_error.hpp"

namespace pipekit::detail {
namespace {

constexpr std::size_t write_chunk = std::size_t{1} << 20;

struct pending_op {
  handle_stream* stream = nullptr;
  OVERLAPPED ov{};
  handle event;
  bool active = false;   // the stream takes part
  bool pending = false;  // an operation is in flight
};

}  // namespace

void communicate_streams(handle_stream& in, handle_stream& out, handle_stream& err, const communicate_options& options,
                         communicate_result& result, std::error_code& ec) {
  ec.clear();
  std::array<pending_op, 3> ops;
  ops[0].stream = &in;
  ops[1].stream = &out;
  ops[2].stream = &err;
  output_sink out_sink(&options.on_stdout_line, options.reserve_out);
  output_sink err_sink(&options.on_stderr_line, options.reserve_err);
  std::array<output_sink*, 3> sinks{nullptr, &out_sink, &err_sink};
  std::array<std::string*, 3> targets{nullptr, &result.out, &result.err};
  std::array<std::span<std::byte>, 3> buffers{};

  if (in.is_open() && options.input.empty()) {
    in.close(ec);
    if (ec) return;
  }
  for (auto& op : ops) {
    if (!op.stream->is_open()) continue;
    op.event = handle{::CreateEventW(nullptr, TRUE, FALSE, nullptr)};
    if (!op.event) {
      ec = last_win_error();
      return;
    }
    op.active = true;
  }

  auto finish = [&](std::size_t i) {
    std::error_code ignored;
    ops[i].stream->close(ignored);
    ops[i].active = false;
  };

  // Starts the next read or write on stream i; completion signals its event.
  auto issue = [&](std::size_t i) -> bool {
    pending_op& op = ops[i];
    op.ov = OVERLAPPED{};
    op.ov.hEvent = event_without_port_packet(op.event.native_handle());
    ::ResetEvent(op.event.native_handle());
    BOOL started;
    if (i == 0) {
      const std::size_t left = options.input.size() - result.input_written;
      started = ::WriteFile(op.stream->native_handle(), options.input.data() + result.input_written,
                            static_cast<DWORD>(std::min(left, write_chunk)), nullptr, &op.ov);
    } else {
      buffers[i] = sinks[i]->space();
      started = ::ReadFile(op.stream->native_handle(), buffers[i].data(), static_cast<DWORD>(buffers[i].size()),
                           nullptr, &op.ov);
    }
    if (!started) {
      const DWORD error = ::GetLastError();
      if (error != ERROR_IO_PENDING) {
        // The other side is gone: for stdin the child stopped reading (not an
        // error, as in Python; input_written tells), for outputs end of stream.
        if (error == ERROR_BROKEN_PIPE || error == ERROR_NO_DATA || error == ERROR_PIPE_NOT_CONNECTED) {
          finish(i);
          return true;
        }
        ec = win_error(error);
        return false;
      }
    }
    op.pending = true;
    return true;
  };

  // Accounts for a finished operation; false on error.
  auto complete = [&](std::size_t i, bool wait) -> bool {
    pending_op& op = ops[i];
    DWORD n = 0;
    DWORD error = 0;
    if (!::GetOverlappedResult(op.stream->native_handle(), &op.ov, &n, wait ? TRUE : FALSE)) error = ::GetLastError();
    op.pending = false;
    if (i == 0) result.input_written += n;
    else if (n > 0) sinks[i]->commit(n, *targets[i]);
    if (error == ERROR_BROKEN_PIPE || error == ERROR_NO_DATA || error == ERROR_PIPE_NOT_CONNECTED ||
        error == ERROR_HANDLE_EOF) {
      finish(i);
      return true;
    }
    if (error != 0 && error != ERROR_OPERATION_ABORTED && error != ERROR_MORE_DATA) {
      ec = win_error(error);
      return false;
    }
    if (i == 0 && result.input_written == options.input.size()) finish(0);
    return true;
  };

  for (std::size_t i = 0; i < 3; ++i)
    if (ops[i].active && !issue(i)) return;

  for (;;) {
    std::array<HANDLE, 3> events{};
    std::array<std::size_t, 3> which{};
    DWORD count = 0;
    for (std::size_t i = 0; i < 3; ++i) {
      if (ops[i].active && ops[i].pending) {
        events[count] = ops[i].event.native_handle();
        which[count++] = i;
      }
    }
    if (count == 0) break;
    const int ms = timeout_ms(options.until);
    const DWORD r = ::WaitForMultipleObjects(count, events.data(), FALSE, ms < 0 ? INFINITE : static_cast<DWORD>(ms));
    if (r == WAIT_TIMEOUT) {
      if (clock::now() < options.until) continue;
      // Take back what is in flight; whatever it moved still counts.
      for (std::size_t k = 0; k < count; ++k) {
        const std::size_t i = which[k];
        ::CancelIoEx(ops[i].stream->native_handle(), &ops[i].ov);
        if (!complete(i, true)) break;
      }
      if (!ec) ec = make_error_code(errc::timed_out);
      break;
    }
    if (r >= WAIT_OBJECT_0 + count) {
      ec = last_win_error();
      break;
    }
    const std::size_t i = which[r - WAIT_OBJECT_0];
    if (!complete(i, false)) break;
    if (ops[i].active && !issue(i)) break;
  }
  if (ec) {
    // Leave nothing in flight on buffers that are about to go away.
    for (auto& op : ops) {
      if (op.active && op.pending) {
        ::CancelIoEx(op.stream->native_handle(), &op.ov);
        DWORD n = 0;
        ::GetOverlappedResult(op.stream->native_handle(), &op.ov, &n, TRUE);
        op.pending = false;
      }
    }
  }
  out_sink.finish();
  err_sink.finish();
}

}  // namespace pipekit::detail
