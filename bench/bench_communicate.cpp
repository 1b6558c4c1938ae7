// 64 MiB through `cat`, written to its stdin while its stdout is read, in
// one thread (the subprocess.communicate() pattern):
//
//   BM_communicate/raw_count/size:64MiB  posix_spawnp + two pipe2() pipes set to 1 MiB,
//                                        non-blocking parent ends, a poll() loop; the output
//                                        is read into one reused 1 MiB buffer and only
//                                        counted: the ceiling, nothing is collected
//   BM_communicate/raw_fresh/size:64MiB  the same loop reading straight into a new mmap()ed,
//                                        MADV_HUGEPAGE block of the input's size per call:
//                                        the ceiling for a result that is kept in fresh memory
//   BM_communicate/raw_poll/size:64MiB   the same loop, output appended to a std::string
//                                        (what a competent hand-written version collects into)
//   BM_communicate/raw_libuv/size:64MiB  libuv: uv_spawn("cat") with UV_CREATE_PIPE stdin and
//                                        stdout, one uv_write() of the input, uv_read_start()
//                                        appending to a std::string (built when pkg-config
//                                        finds libuv)
//   BM_communicate/pipekit/size:64MiB    command{"cat"} with stdin/stdout piped,
//                                        communicate(input) + wait(): a new result per call
//   BM_communicate/pipekit_reserve/size:64MiB the same with communicate_options::reserve_out
//                                        set to the input's size
//   BM_communicate/pipekit_reused/size:64MiB  the same with communicate(options, result) into
//                                        one communicate_result kept across calls
//
// All include starting and reaping cat; all but raw_count must return all
// the input in one std::string (checked: size every iteration, content
// once); bytes/s counts the input once per iteration. The size:4KiB pairs
// are informational: there, starting cat dominates, and they show the fixed
// cost of one call.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#if defined(PIPEKIT_BENCH_LIBUV)
#include <uv.h>
#endif

#include "pipekit/process.hpp"

extern char** environ;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

// Minor page faults of this process so far: collecting 64 MiB into fresh
// 4 KiB pages costs at least 16,384 of them, and how many more (or, with
// huge pages, how many fewer) is where implementations differ.
double minor_faults() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_minflt);
}

void report(benchmark::State& state, std::size_t bytes, double faults_before) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
  state.counters["minflt_per_iter"] =
      benchmark::Counter(minor_faults() - faults_before, benchmark::Counter::kAvgIterations);
}

std::string make_payload(std::size_t bytes) {
  std::string p(bytes, '\0');
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = (i % 64 == 63) ? '\n' : static_cast<char>('a' + i % 26);
  return p;
}

// ---- raw poll() loop ----------------------------------------------------------

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl O_NONBLOCK");
}

// Where the raw loop's reads go: one reused buffer, then either counted
// (the ceiling) or appended to a std::string. std::string grows
// geometrically without zero-filling (or touching) capacity it has not used
// yet, which reading straight into a resize()d string would.
struct raw_sink {
  std::span<char> buf;  // reused across calls
  std::string* out;     // null: count only (or kept in `fresh`)
  std::size_t total = 0;
  std::span<char> fresh{};  // not empty: read straight into this block, no copy
  std::span<char> space() {
    if (fresh.empty()) return buf;
    const std::size_t left = total < fresh.size() ? fresh.size() - total : 0;
    if (left == 0) return buf;  // for the read that sees the end (more would be counted, and refused)
    return fresh.subspan(total, left < buf.size() ? left : buf.size());
  }
  void commit(std::size_t n) {
    total += n;
    if (out != nullptr) out->append(buf.data(), n);
  }
};

// What a competent hand-written communicate() looks like. The child's pipe
// ends stay blocking (O_NONBLOCK belongs to each end's open file
// description, so setting it on our ends does not affect cat's). SIGPIPE is
// not guarded: cat reads everything here, and a program written this way
// would ignore SIGPIPE process-wide, which costs nothing per write.
void raw_communicate_cat(std::string_view input, raw_sink& sink, int& status) {
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) die("pipe2");
  if (::fcntl(in_pipe[1], F_SETPIPE_SZ, static_cast<int>(mib)) < 0) die("F_SETPIPE_SZ");
  if (::fcntl(out_pipe[0], F_SETPIPE_SZ, static_cast<int>(mib)) < 0) die("F_SETPIPE_SZ");
  set_nonblocking(in_pipe[1]);
  set_nonblocking(out_pipe[0]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  char* argv[] = {const_cast<char*>("cat"), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "cat", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    errno = rc;
    die("posix_spawnp cat");
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);

  std::size_t written = 0;
  pollfd fds[2] = {{in_pipe[1], POLLOUT, 0}, {out_pipe[0], POLLIN, 0}};
  if (input.empty()) {
    ::close(fds[0].fd);
    fds[0].fd = -1;
  }
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[0].fd >= 0 && fds[0].revents != 0) {
      const ssize_t n = ::write(fds[0].fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      const bool failed = n < 0 && errno != EAGAIN && errno != EINTR;
      if (failed && errno != EPIPE) die("write");
      if (failed || written == input.size()) {  // EPIPE: cat stopped reading
        ::close(fds[0].fd);
        fds[0].fd = -1;
      }
    }
    if (fds[1].fd >= 0 && fds[1].revents != 0) {
      // Drain what is there: fewer poll() calls than one read per wake-up.
      for (;;) {
        const std::span<char> space = sink.space();
        const ssize_t n = ::read(fds[1].fd, space.data(), space.size());
        if (n > 0) {
          sink.commit(static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0) {
          ::close(fds[1].fd);
          fds[1].fd = -1;
          break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        die("read");
      }
    }
  }

  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
}

void bm_raw_count(benchmark::State& state, const std::string& input) {
  const std::unique_ptr<char[]> buf(new char[mib]);
  const double faults_before = minor_faults();
  for (auto _ : state) {
    int status = 0;
    raw_sink sink{{buf.get(), mib}, nullptr};
    raw_communicate_cat(input, sink, status);
    if (sink.total != input.size() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("cat did not return the whole input");
      break;
    }
  }
  report(state, input.size(), faults_before);
}

// The ceiling for a result that is kept: each call maps a new block of the
// input's size (rounded up to 2 MiB pages, advised MADV_HUGEPAGE as pipekit
// does) and read()s straight into it, no copy. What it costs over raw_count
// is what fresh memory costs (page faults, the kernel zeroing pages).
void bm_raw_fresh(benchmark::State& state, const std::string& input) {
  const std::unique_ptr<char[]> buf(new char[mib]);
  constexpr std::size_t huge = std::size_t{2} << 20;
  const std::size_t mapped = (input.size() + huge - 1) / huge * huge;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    void* block = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) die("mmap");
    (void)::madvise(block, mapped, MADV_HUGEPAGE);
    int status = 0;
    raw_sink sink{{buf.get(), mib}, nullptr};
    sink.fresh = {static_cast<char*>(block), input.size()};
    raw_communicate_cat(input, sink, status);
    const bool whole = sink.total == input.size() && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const bool same = whole && state.iterations() == 0 ? std::memcmp(block, input.data(), input.size()) == 0 : whole;
    ::munmap(block, mapped);
    if (!same) {
      state.SkipWithError("cat did not return the whole input");
      break;
    }
  }
  report(state, input.size(), faults_before);
}

void bm_raw_poll(benchmark::State& state, const std::string& input) {
  const std::unique_ptr<char[]> buf(new char[mib]);
  std::string last;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    int status = 0;
    std::string out;
    raw_sink sink{{buf.get(), mib}, &out};
    raw_communicate_cat(input, sink, status);
    if (out.size() != input.size() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("cat did not return the whole input");
      break;
    }
    // Kept (instead of freed here) and compared once after the loop; the
    // previous iteration's string is freed instead, so the cost is the same.
    last = std::move(out);
  }
  report(state, input.size(), faults_before);
  if (!last.empty() && last != input) state.SkipWithError("cat's output differs from its input");
}

// ---- libuv --------------------------------------------------------------------

#if defined(PIPEKIT_BENCH_LIBUV)

// One uv_spawn() of cat per call on a loop kept across calls, the way a
// libuv program does it: the whole input in one uv_write() (libuv writes
// what fits and the rest on POLLOUT), reads into one reused buffer of the
// size libuv suggests, appended to a std::string.
struct uv_cat {
  uv_loop_t* loop = nullptr;
  std::span<char> buf;
  std::string* out = nullptr;
  std::int64_t exit_status = -1;
  int term_signal = 0;
  bool read_failed = false;
};

void check_uv(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "%s: %s\n", what, uv_strerror(rc));
    std::abort();
  }
}

void libuv_communicate_cat(uv_cat& job, std::string_view input) {
  uv_process_t proc;
  uv_pipe_t in;
  uv_pipe_t out;
  uv_write_t write_req;
  check_uv(uv_pipe_init(job.loop, &in, 0), "uv_pipe_init");
  check_uv(uv_pipe_init(job.loop, &out, 0), "uv_pipe_init");
  proc.data = in.data = out.data = write_req.data = &job;
  uv_stdio_container_t stdio[3];
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&in);
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&out);
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  char* argv[] = {const_cast<char*>("cat"), nullptr};
  uv_process_options_t options{};
  options.file = "cat";
  options.args = argv;
  options.stdio_count = 3;
  options.stdio = stdio;
  options.exit_cb = [](uv_process_t* p, std::int64_t status, int signal) {
    auto* j = static_cast<uv_cat*>(p->data);
    j->exit_status = status;
    j->term_signal = signal;
    uv_close(reinterpret_cast<uv_handle_t*>(p), nullptr);
  };
  check_uv(uv_spawn(job.loop, &proc, &options), "uv_spawn cat");

  uv_buf_t whole = uv_buf_init(const_cast<char*>(input.data()), static_cast<unsigned>(input.size()));
  check_uv(uv_write(&write_req, reinterpret_cast<uv_stream_t*>(&in), &whole, 1,
                    [](uv_write_t* req, int status) {
                      if (status != 0 && status != UV_EPIPE) check_uv(status, "uv_write");
                      uv_close(reinterpret_cast<uv_handle_t*>(req->handle), nullptr);
                    }),
           "uv_write");
  check_uv(uv_read_start(
               reinterpret_cast<uv_stream_t*>(&out),
               [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
                 auto* j = static_cast<uv_cat*>(h->data);
                 *b = uv_buf_init(j->buf.data(), static_cast<unsigned>(j->buf.size()));
               },
               [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                 auto* j = static_cast<uv_cat*>(s->data);
                 if (n > 0) {
                   j->out->append(b->base, static_cast<std::size_t>(n));
                 } else if (n < 0) {
                   if (n != UV_EOF) j->read_failed = true;
                   uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
                 }
               }),
           "uv_read_start");
  check_uv(uv_run(job.loop, UV_RUN_DEFAULT), "uv_run");
}

void bm_raw_libuv(benchmark::State& state, const std::string& input) {
  uv_loop_t loop;
  check_uv(uv_loop_init(&loop), "uv_loop_init");
  constexpr std::size_t suggested = 64 * 1024;  // what libuv's alloc_cb is asked for
  const std::unique_ptr<char[]> buf(new char[suggested]);
  std::string last;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    std::string out;
    uv_cat job{&loop, {buf.get(), suggested}, &out};
    libuv_communicate_cat(job, input);
    if (out.size() != input.size() || job.read_failed || job.exit_status != 0 || job.term_signal != 0) {
      state.SkipWithError("cat did not return the whole input");
      break;
    }
    last = std::move(out);
  }
  report(state, input.size(), faults_before);
  check_uv(uv_loop_close(&loop), "uv_loop_close");
  if (!last.empty() && last != input) state.SkipWithError("cat's output differs from its input");
}

#endif

// ---- pipekit ----------------------------------------------------------------

// A new result per call; `reserve` > 0 announces its size
// (communicate_options::reserve_out), 0 is the plain communicate(input).
void pipekit_new_result(benchmark::State& state, const std::string& input, std::size_t reserve) {
  pipekit::command cmd{"cat"};
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  pipekit::communicate_options o;
  o.input = input;
  o.reserve_out = reserve;
  std::string last;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    pipekit::process p = cmd.spawn();
    pipekit::communicate_result r = reserve == 0 ? p.communicate(input) : p.communicate(o);
    const pipekit::exit_status st = p.wait();
    if (r.out.size() != input.size() || !st.success()) {
      state.SkipWithError("cat did not return the whole input");
      break;
    }
    last = std::move(r.out);
  }
  report(state, input.size(), faults_before);
  if (!last.empty() && last != input) state.SkipWithError("cat's output differs from its input");
}

void bm_pipekit(benchmark::State& state, const std::string& input) { pipekit_new_result(state, input, 0); }

void bm_pipekit_reserve(benchmark::State& state, const std::string& input) {
  pipekit_new_result(state, input, input.size());
}

// One result kept across calls: its strings' capacity is reused.
void bm_pipekit_reused(benchmark::State& state, const std::string& input) {
  pipekit::command cmd{"cat"};
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  pipekit::communicate_options o;
  o.input = input;
  pipekit::communicate_result r;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    pipekit::process p = cmd.spawn();
    p.communicate(o, r);
    const pipekit::exit_status st = p.wait();
    if (r.out.size() != input.size() || !st.success()) {
      state.SkipWithError("cat did not return the whole input");
      break;
    }
  }
  report(state, input.size(), faults_before);
  if (!r.out.empty() && r.out != input) state.SkipWithError("cat's output differs from its input");
}

}  // namespace

int main(int argc, char** argv) {
  // Built once, outside every timed region.
  static const std::string big = make_payload(64 * mib);
  static const std::string small = make_payload(4096);
  using bench_fn = void (*)(benchmark::State&, const std::string&);
  const std::tuple<const char*, bench_fn> impls[] = {
    {"raw_count", bm_raw_count},
    {"raw_fresh", bm_raw_fresh},
    {"raw_poll", bm_raw_poll},
#if defined(PIPEKIT_BENCH_LIBUV)
    {"raw_libuv", bm_raw_libuv},
#endif
    {"pipekit", bm_pipekit},
    {"pipekit_reserve", bm_pipekit_reserve},
    {"pipekit_reused", bm_pipekit_reused},
  };
  for (const auto& [input, label, min_time] : {std::tuple{&big, "64MiB", 1.0}, std::tuple{&small, "4KiB", 0.5}}) {
    for (const auto& [impl, fn] : impls) {
      const std::string* in = input;
      const bench_fn f = fn;
      benchmark::RegisterBenchmark((std::string("BM_communicate/") + impl + "/size:" + label).c_str(),
                                   [in, f](benchmark::State& s) { f(s, *in); })
          ->UseRealTime()
          ->MinTime(min_time)
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
