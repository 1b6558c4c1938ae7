// 64 MiB through `cat`, written to its stdin while its stdout is read, in
// one thread (the subprocess.communicate() pattern):
//
//   BM_communicate/raw_poll/size:64MiB  posix_spawnp + two pipe2() pipes set to 1 MiB,
//                                       non-blocking parent ends, a poll() loop,
//                                       output collected into a std::string, waitpid
//   BM_communicate/pipekit/size:64MiB   command{"cat"} with stdin/stdout piped,
//                                       communicate(input) + wait()
//
// Both include starting and reaping cat, both must return all the input in
// one std::string; bytes/s counts the input once per iteration. The size:4KiB
// pair is informational: there, starting cat dominates, and the pair shows
// the fixed cost of one communicate() call.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "pipekit/process.hpp"

extern char** environ;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

// Minor page faults of this process so far: collecting 64 MiB costs at
// least 16,384 of them (4 KiB pages), and how many more is where
// implementations differ.
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

// ---- raw baseline -----------------------------------------------------------

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl O_NONBLOCK");
}

// What a competent hand-written communicate() looks like. The child's pipe
// ends stay blocking (O_NONBLOCK belongs to each end's open file
// description, so setting it on our ends does not affect cat's). SIGPIPE is
// not guarded: cat reads everything here, and a program written this way
// would ignore SIGPIPE process-wide, which costs nothing per write.
std::string raw_communicate_cat(std::string_view input, int& status) {
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

  // Reads land in one reusable 1 MiB buffer and are appended: std::string
  // then grows geometrically without zero-filling (or touching) capacity it
  // has not used yet, which reading straight into a resize()d string would.
  std::string out;
  const std::unique_ptr<char[]> buf(new char[mib]);
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
        const ssize_t n = ::read(fds[1].fd, buf.get(), mib);
        if (n > 0) {
          out.append(buf.get(), static_cast<std::size_t>(n));
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
  return out;
}

void bm_raw_poll(benchmark::State& state, const std::string& input) {
  std::string last;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    int status = 0;
    std::string out = raw_communicate_cat(input, status);
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

// ---- pipekit ----------------------------------------------------------------

void bm_pipekit(benchmark::State& state, const std::string& input) {
  pipekit::command cmd{"cat"};
  cmd.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  std::string last;
  const double faults_before = minor_faults();
  for (auto _ : state) {
    pipekit::process p = cmd.spawn();
    pipekit::communicate_result r = p.communicate(input);
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

}  // namespace

int main(int argc, char** argv) {
  // Built once, outside every timed region.
  static const std::string big = make_payload(64 * mib);
  static const std::string small = make_payload(4096);
  for (const auto& [input, label, min_time] : {std::tuple{&big, "64MiB", 1.0}, std::tuple{&small, "4KiB", 0.5}}) {
    const std::string tail = std::string("/size:") + label;
    const std::string* in = input;
    benchmark::RegisterBenchmark(("BM_communicate/raw_poll" + tail).c_str(),
                                 [in](benchmark::State& s) { bm_raw_poll(s, *in); })
        ->UseRealTime()
        ->MinTime(min_time)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_communicate/pipekit" + tail).c_str(),
                                 [in](benchmark::State& s) { bm_pipekit(s, *in); })
        ->UseRealTime()
        ->MinTime(min_time)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
