// communicate() over readiness: non-blocking parent ends and a poller. The
// child can never block us (we only write what fits and always drain both
// outputs), and we never block it.
#include <array>

#include "pipekit/error.hpp"
#include "pipekit/poller.hpp"
#include "sys/communicate.hpp"
#include "sys/io.hpp"

namespace pipekit::detail {

void communicate_streams(handle_stream& in_, handle_stream& out_, handle_stream& err_,
                         const communicate_options& options, communicate_result& result, std::error_code& ec) {
  ec.clear();
  enum : std::uint64_t { tok_in = 0, tok_out = 1, tok_err = 2 };
  std::array<handle_stream*, 3> streams{&in_, &out_, &err_};
  std::array<bool, 3> active{false, false, false};
  output_sink out_sink(&options.on_stdout_line, options.reserve_out);
  output_sink err_sink(&options.on_stderr_line, options.reserve_err);
  std::array<output_sink*, 3> sinks{nullptr, &out_sink, &err_sink};
  std::array<std::string*, 3> targets{nullptr, &result.out, &result.err};

  poller p(poller_backend::automatic, ec);
  if (ec) return;

  if (in_.is_open()) {
    if (options.input.empty()) {
      in_.close(ec);
      if (ec) return;
    } else {
      in_.set_nonblocking(true, ec);
      if (!ec) p.add(in_.native_handle(), events::writable, tok_in, ec);
      if (ec) return;
      active[tok_in] = true;
    }
  }
  for (std::uint64_t t : {tok_out, tok_err}) {
    if (!streams[t]->is_open()) continue;
    streams[t]->set_nonblocking(true, ec);
    if (!ec) p.add(streams[t]->native_handle(), events::readable, t, ec);
    if (ec) return;
    active[t] = true;
  }

  auto finish_stream = [&](std::uint64_t t) {
    std::error_code ignored;
    p.remove(streams[t]->native_handle(), ignored);
    streams[t]->close(ignored);
    active[t] = false;
  };

  std::array<poll_event, 3> evs;
  while (active[0] || active[1] || active[2]) {
    const std::size_t n = p.wait(evs, options.until, ec);
    if (ec) break;
    if (n == 0) {
      ec = make_error_code(errc::timed_out);
      break;
    }
    for (std::size_t i = 0; i < n && !ec; ++i) {
      const std::uint64_t t = evs[i].token;
      if (t == tok_in) {
        std::error_code wec;
        const std::size_t w = in_.write_some(std::as_bytes(std::span(options.input.data() + result.input_written,
                                                                     options.input.size() - result.input_written)),
                                             wec);
        result.input_written += w;
        if (wec == std::errc::broken_pipe) {
          // The child stopped reading (like `head -1`): not an error, as in
          // Python; input_written tells how much it took.
          finish_stream(t);
        } else if (wec && !would_block(wec)) {
          ec = wec;
        } else if (result.input_written == options.input.size()) {
          finish_stream(t);
        }
      } else {
        // Drain until the pipe is empty: fewer wake-ups than one read per event.
        for (;;) {
          std::error_code rec;
          const std::size_t got = streams[t]->read_some(sinks[t]->space(), rec);
          if (would_block(rec)) break;
          if (rec) {
            ec = rec;
            break;
          }
          if (got == 0) {
            finish_stream(t);
            break;
          }
          sinks[t]->commit(got, *targets[t]);
        }
      }
    }
  }
  out_sink.finish();
  err_sink.finish();
}

}  // namespace pipekit::detail
