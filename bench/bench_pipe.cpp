// Stream throughput through one anonymous pipe: a writer thread pushes
// 64 MiB in fixed-size chunks, the benchmark thread reads it back.
//
//   BM_pipe_throughput/raw/cap:64KiB/chunk:N      pipe2() + write()/read(), OS default capacity
//   BM_pipe_throughput/raw/cap:1MiB/chunk:N       the same after F_SETPIPE_SZ 1 MiB
//   BM_pipe_throughput/pipekit/cap:64KiB/chunk:N  make_pipe({.capacity = 65536})
//   BM_pipe_throughput/pipekit/cap:1MiB/chunk:N   make_pipe() with its default options
//
// Pairs with the same cap and chunk compare like with like; pipekit's
// default against raw cap:64KiB shows what the default capacity buys.
// Only ratios within one run mean anything (see bench/README.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "pipekit/pipe.hpp"

namespace {

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
constexpr std::size_t transfer_bytes = 64 * mib;  // per iteration

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

std::unique_ptr<std::byte[]> pattern_buffer(std::size_t n) {
  auto buf = std::make_unique<std::byte[]>(n);
  for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<std::byte>(i * 131 + 7);
  return buf;
}

// ---- raw baseline -----------------------------------------------------------

struct raw_pipe {
  int fds[2] = {-1, -1};
  explicit raw_pipe(std::size_t capacity) {
    if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe2");
    // capacity 0: keep the OS default (64 KiB on Linux).
    if (capacity != 0 && ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(capacity)) < 0) die("F_SETPIPE_SZ");
  }
  raw_pipe(const raw_pipe&) = delete;
  raw_pipe& operator=(const raw_pipe&) = delete;
  ~raw_pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

void raw_write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

void bm_raw(benchmark::State& state, std::size_t capacity, std::size_t chunk) {
  raw_pipe pipe(capacity);
  const int rfd = pipe.fds[0];
  const int wfd = pipe.fds[1];
  const auto src = pattern_buffer(chunk);
  const auto dst = std::make_unique<std::byte[]>(chunk);
  state.counters["pipe_capacity"] = ::fcntl(wfd, F_GETPIPE_SZ);

  for (auto _ : state) {
    std::thread writer([&] {
      for (std::size_t sent = 0; sent < transfer_bytes; sent += chunk) raw_write_all(wfd, src.get(), chunk);
    });
    std::size_t received = 0;
    while (received < transfer_bytes) {
      const ssize_t k = ::read(rfd, dst.get(), chunk);
      if (k < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      if (k == 0) die("read: unexpected end of stream");
      received += static_cast<std::size_t>(k);
    }
    writer.join();
    benchmark::DoNotOptimize(dst.get());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(transfer_bytes));
}

// ---- pipekit ----------------------------------------------------------------

void bm_pipekit(benchmark::State& state, const pipekit::pipe_options& options, std::size_t chunk) {
  // Named ends rather than a structured binding: clang before 16 cannot
  // capture a binding in the writer lambda.
  pipekit::pipe_pair pipe = pipekit::make_pipe(options);
  pipekit::handle_stream& r = pipe.read_end;
  pipekit::handle_stream& w = pipe.write_end;
  const auto src = pattern_buffer(chunk);
  const auto dst = std::make_unique<std::byte[]>(chunk);
  const std::span<const std::byte> out_chunk(src.get(), chunk);
  const std::span<std::byte> in_buf(dst.get(), chunk);
  state.counters["pipe_capacity"] = static_cast<double>(pipekit::pipe_capacity(w.native_handle()));

  for (auto _ : state) {
    std::thread writer([&] {
      for (std::size_t sent = 0; sent < transfer_bytes; sent += chunk) w.write_all(out_chunk);
    });
    std::size_t received = 0;
    while (received < transfer_bytes) {
      const std::size_t k = r.read_some(in_buf);
      if (k == 0) die("read_some: unexpected end of stream");
      received += k;
    }
    writer.join();
    benchmark::DoNotOptimize(dst.get());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(transfer_bytes));
}

std::string size_name(std::size_t bytes) {
  return bytes >= mib ? std::to_string(bytes / mib) + "MiB" : std::to_string(bytes / kib) + "KiB";
}

void register_all() {
  constexpr double min_time_s = 0.3;
  for (const std::size_t chunk : {16 * kib, 64 * kib, 1 * mib}) {
    const std::string tail = "/chunk:" + size_name(chunk);
    const auto tune = [](benchmark::internal::Benchmark* b) {
      b->UseRealTime()->MinTime(min_time_s)->Unit(benchmark::kMillisecond);
    };

    tune(benchmark::RegisterBenchmark(("BM_pipe_throughput/raw/cap:64KiB" + tail).c_str(),
                                      [chunk](benchmark::State& s) { bm_raw(s, 0, chunk); }));
    tune(benchmark::RegisterBenchmark(("BM_pipe_throughput/raw/cap:1MiB" + tail).c_str(),
                                      [chunk](benchmark::State& s) { bm_raw(s, mib, chunk); }));

    pipekit::pipe_options small;
    small.capacity = 64 * kib;
    tune(benchmark::RegisterBenchmark(("BM_pipe_throughput/pipekit/cap:64KiB" + tail).c_str(),
                                      [chunk, small](benchmark::State& s) { bm_pipekit(s, small, chunk); }));
    // make_pipe()'s default options: pipekit::default_pipe_capacity (1 MiB).
    static_assert(pipekit::default_pipe_capacity == mib, "rename the benchmark if the default changes");
    tune(benchmark::RegisterBenchmark(("BM_pipe_throughput/pipekit/cap:1MiB" + tail).c_str(),
                                      [chunk](benchmark::State& s) { bm_pipekit(s, pipekit::pipe_options{}, chunk); }));
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
