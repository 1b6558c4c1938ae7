// Spawn + wait of /bin/true, stdin/stdout/stderr on /dev/null for every
// variant:
//
//   BM_spawn/raw_posix_spawn   posix_spawn() + waitpid()
//   BM_spawn/pipekit           command{"/bin/true"}.spawn() + wait()
//   BM_spawn/raw_fork_exec     fork() + execve() + waitpid()
//
// and the same three as BM_spawn_1GiB/... while this process holds 1 GiB of
// touched memory (allocated once, on first use, and kept to the end). fork()
// copies the page tables of that gigabyte on every call; posix_spawn and
// pipekit (clone with CLONE_VM|CLONE_VFORK) should not notice it.
//
// Once the gigabyte is allocated it cannot be given back without paying for
// it again, so BM_spawn refuses to run after BM_spawn_1GiB in the same
// process. bench/run_benchmarks.sh runs the two families in separate
// processes (--benchmark_filter), which also allows random interleaving.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pipekit/process.hpp"

extern char** environ;

namespace {

constexpr const char* program = "/bin/true";
constexpr std::size_t big_bytes = std::size_t{1} << 30;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

void* big_memory = nullptr;

// Touches every page so that fork() has 262,144 page-table entries to copy.
// No huge pages: this is how a heap of that size usually looks (THP is
// "madvise" by default on Debian).
void hold_big_memory() {
  if (big_memory != nullptr) return;
  void* p = ::mmap(nullptr, big_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap 1 GiB");
  ::madvise(p, big_bytes, MADV_NOHUGEPAGE);
  std::memset(p, 0x5a, big_bytes);
  big_memory = p;
}

bool setup(benchmark::State& state, bool with_big_memory) {
  if (with_big_memory) {
    hold_big_memory();
  } else if (big_memory != nullptr) {
    state.SkipWithError("BM_spawn must not run after BM_spawn_1GiB in one process: filter one family per run");
    return false;
  }
  return true;
}

int dev_null() {
  static const int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/null");
  return fd;
}

bool reap_true(benchmark::State& state, pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    state.SkipWithError("/bin/true did not exit with 0");
    return false;
  }
  return true;
}

// ---- raw baselines ----------------------------------------------------------

void bm_raw_posix_spawn(benchmark::State& state, bool with_big_memory) {
  if (!setup(state, with_big_memory)) return;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd = 0; fd < 3; ++fd) posix_spawn_file_actions_adddup2(&actions, dev_null(), fd);
  char* argv[] = {const_cast<char*>(program), nullptr};

  for (auto _ : state) {
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, program, &actions, nullptr, argv, environ);
    if (rc != 0) {
      errno = rc;
      die("posix_spawn");
    }
    if (!reap_true(state, pid)) break;
  }
  posix_spawn_file_actions_destroy(&actions);
  state.SetItemsProcessed(state.iterations());
}

void bm_raw_fork_exec(benchmark::State& state, bool with_big_memory) {
  if (!setup(state, with_big_memory)) return;
  const int null_fd = dev_null();
  char* argv[] = {const_cast<char*>(program), nullptr};

  for (auto _ : state) {
    const pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      ::execve(program, argv, environ);
      ::_exit(127);
    }
    if (!reap_true(state, pid)) break;
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- pipekit ----------------------------------------------------------------

void bm_pipekit(benchmark::State& state, bool with_big_memory) {
  if (!setup(state, with_big_memory)) return;
  pipekit::command cmd{program};
  cmd.set_stdin(pipekit::stdio::null()).set_stdout(pipekit::stdio::null()).set_stderr(pipekit::stdio::null());

  for (auto _ : state) {
    pipekit::process p = cmd.spawn();
    if (!p.wait().success()) {
      state.SkipWithError("/bin/true did not exit with 0");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void register_all() {
  // Plain spawns take ~0.7 ms, so 0.5 s gives several hundred; fork() with
  // 1 GiB takes ~40 ms, so it gets a fixed, small count.
  constexpr double min_time_s = 0.5;
  for (const bool big : {false, true}) {
    const std::string family = big ? "BM_spawn_1GiB/" : "BM_spawn/";
    benchmark::RegisterBenchmark((family + "raw_posix_spawn").c_str(),
                                 [big](benchmark::State& s) { bm_raw_posix_spawn(s, big); })
        ->UseRealTime()
        ->MinTime(min_time_s)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((family + "pipekit").c_str(), [big](benchmark::State& s) { bm_pipekit(s, big); })
        ->UseRealTime()
        ->MinTime(min_time_s)
        ->Unit(benchmark::kMicrosecond);
    auto* fork_bm = benchmark::RegisterBenchmark((family + "raw_fork_exec").c_str(),
                                                 [big](benchmark::State& s) { bm_raw_fork_exec(s, big); });
    fork_bm->UseRealTime()->Unit(benchmark::kMicrosecond);
    if (big) fork_bm->Iterations(20);
    else fork_bm->MinTime(min_time_s);
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
