// pipekit_child: the one helper program the tests spawn, with modes instead
// of shell tricks.
//
//   echo                 copy stdin to stdout until EOF
//   exit N               exit with status N
//   signal N             raise signal N (with its default action)
//   crash                die of SIGSEGV, as a program that faults does (no
//                        core file is written)
//   spew BYTES [FD]      write BYTES bytes of a known pattern to FD (default 1)
//   sleep MS             sleep MS milliseconds, then exit 0
//   print-env [NAME]     print the environment (or one variable) to stdout
//   print-args           print each argument on its own line
//   print-cwd            print the working directory
//   big-io N             read N bytes of stdin while writing N bytes to stdout
//                        and N to stderr, all interleaved; exit 0 if the
//                        input matched the pattern
//   count-fds            print how many descriptors are open
//   read-fd N            copy descriptor N to stdout until its end
//   wait-eof             block until stdin reaches EOF, then print "eof"
//   tty                  print "tty" if stdin is a terminal and it is the
//                        controlling terminal, else "notty"
//   ignore-term MS       ignore SIGTERM, then sleep MS milliseconds
//   spawn-grandchild     start a grandchild (pipekit_child sleep 60000) that
//                        inherits stdout, print its pid, then sleep
//   spawn-escapee HOW    like spawn-grandchild, but the grandchild leaves the
//                        process group first: HOW is "session" (setsid),
//                        "group" (setpgid) or "daemon" (double fork + setsid:
//                        its parent exits, so it is orphaned)
//   ignore-term-ready MS ignore SIGTERM, print "ready" to stdout, then sleep
//                        MS milliseconds
//   exec-without-stdin PROG [ARG...]
//                        close descriptor 0, then exec PROG (a command
//                        started with its stdin closed, as by `<&-`)
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

char pattern_byte(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 4096) % 26); }

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

int spew(std::size_t bytes, int fd) {
  std::vector<char> buf(65536);
  std::size_t done = 0;
  while (done < bytes) {
    const std::size_t n = std::min(buf.size(), bytes - done);
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(done + i);
    if (!write_all(fd, buf.data(), n)) return 1;
    done += n;
  }
  return 0;
}

// Reads and writes at the same time, the way a filter with two outputs does;
// a parent that does not drain both outputs while feeding input deadlocks.
int big_io(std::size_t n) {
  ::fcntl(0, F_SETFL, ::fcntl(0, F_GETFL) | O_NONBLOCK);
  ::fcntl(1, F_SETFL, ::fcntl(1, F_GETFL) | O_NONBLOCK);
  ::fcntl(2, F_SETFL, ::fcntl(2, F_GETFL) | O_NONBLOCK);
  std::size_t in_done = 0, out_done = 0, err_done = 0;
  bool ok = true;
  std::vector<char> buf(65536), pat(65536);
  while (in_done < n || out_done < n || err_done < n) {
    pollfd p[3] = {{0, static_cast<short>(in_done < n ? POLLIN : 0), 0},
                   {1, static_cast<short>(out_done < n ? POLLOUT : 0), 0},
                   {2, static_cast<short>(err_done < n ? POLLOUT : 0), 0}};
    if (::poll(p, 3, -1) < 0 && errno != EINTR) return 2;
    if (p[0].revents) {
      const ssize_t r = ::read(0, buf.data(), buf.size());
      if (r == 0) break;
      if (r > 0) {
        for (ssize_t i = 0; i < r; ++i)
          ok = ok && buf[static_cast<std::size_t>(i)] == pattern_byte(in_done + static_cast<std::size_t>(i));
        in_done += static_cast<std::size_t>(r);
      }
    }
    for (int k = 1; k <= 2; ++k) {
      std::size_t& done = k == 1 ? out_done : err_done;
      if (!p[k].revents || done >= n) continue;
      const std::size_t m = std::min(pat.size(), n - done);
      for (std::size_t i = 0; i < m; ++i) pat[i] = pattern_byte(done + i);
      const ssize_t w = ::write(k, pat.data(), m);
      if (w > 0) done += static_cast<std::size_t>(w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR) return 3;
    }
  }
  return ok && in_done == n ? 0 : 4;
}

int count_fds() {
  int count = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 1;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++count;
  ::closedir(d);
  std::printf("%d\n", count - 1);  // less the directory's own descriptor
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pipekit_child MODE [ARGS]\n");
    return 64;
  }
  const std::string mode = argv[1];
  auto num = [&](int i, long long dflt = 0) { return argc > i ? std::atoll(argv[i]) : dflt; };

  if (mode == "echo") {
    char buf[65536];
    for (;;) {
      const ssize_t r = ::read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return r == 0 ? 0 : 1;
      if (!write_all(1, buf, static_cast<std::size_t>(r))) return 1;
    }
  }
  if (mode == "exit") return static_cast<int>(num(2));
  if (mode == "signal") {
    const int sig = static_cast<int>(num(2));
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return 100;
  }
  if (mode == "crash") {
    // raise() rather than a real fault: a sanitizer's handler would turn a
    // stray store into a report and an exit code.
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(SIGSEGV, SIG_DFL);
    ::raise(SIGSEGV);
    return 100;
  }
  if (mode == "spew") return spew(static_cast<std::size_t>(num(2)), static_cast<int>(num(3, 1)));
  if (mode == "sleep") {
    std::this_thread::sleep_for(std::chrono::milliseconds(num(2)));
    return 0;
  }
  if (mode == "print-env") {
    if (argc > 2) {
      const char* v = std::getenv(argv[2]);
      if (v == nullptr) return 1;
      std::printf("%s\n", v);
      return 0;
    }
    for (char** e = environ; *e != nullptr; ++e) std::printf("%s\n", *e);
    return 0;
  }
  if (mode == "print-args") {
    for (int i = 2; i < argc; ++i) std::printf("%s\n", argv[i]);
    return 0;
  }
  if (mode == "print-cwd") {
    char buf[4096];
    if (::getcwd(buf, sizeof buf) == nullptr) return 1;
    std::printf("%s\n", buf);
    return 0;
  }
  if (mode == "big-io") return big_io(static_cast<std::size_t>(num(2)));
  if (mode == "count-fds") return count_fds();
  if (mode == "read-fd") {
    char buf[4096];
    const int fd = static_cast<int>(num(2));
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) std::fwrite(buf, 1, static_cast<std::size_t>(n), stdout);
    if (n < 0) {
      std::perror("read");
      return 3;
    }
    return 0;
  }
  if (mode == "wait-eof") {
    char buf[4096];
    while (::read(0, buf, sizeof buf) > 0) {
    }
    std::printf("eof\n");
    return 0;
  }
  if (mode == "tty") {
    const bool ctty = ::isatty(0) && ::tcgetpgrp(0) == ::getpgrp();
    std::printf("%s\n", ctty ? "tty" : "notty");
    return 0;
  }
  if (mode == "ignore-term") {
    ::signal(SIGTERM, SIG_IGN);
    std::this_thread::sleep_for(std::chrono::milliseconds(num(2)));
    return 0;
  }
  if (mode == "ignore-term-ready") {
    ::signal(SIGTERM, SIG_IGN);
    std::printf("ready\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(num(2)));
    return 0;
  }
  if (mode == "exec-without-stdin") {
    if (argc < 3) return 64;
    ::close(0);
    ::execv(argv[2], argv + 2);
    std::perror("execv");
    return 127;
  }
  if (mode == "spawn-grandchild") {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(argv[0], argv[0], "sleep", "60000", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::printf("%d\n", static_cast<int>(pid));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  }
  if (mode == "spawn-escapee") {
    const std::string how = argc > 2 ? argv[2] : "";
    if (how != "session" && how != "group" && how != "daemon") return 64;
    const pid_t pid = ::fork();
    if (pid == 0) {
      const pid_t middle = ::getpid();
      if (how == "daemon") {
        if (::fork() != 0) ::_exit(0);  // the middle process exits at once
        // Announce only once orphaned: before the middle process is gone the
        // daemon is still its child, and so still in reach of a tree walk.
        while (::getppid() == middle) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (how == "group") ::setpgid(0, 0);
      else ::setsid();
      std::printf("%d\n", static_cast<int>(::getpid()));
      std::fflush(stdout);
      ::execl(argv[0], argv[0], "sleep", "60000", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (how == "daemon") ::waitpid(pid, nullptr, 0);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  }
  std::fprintf(stderr, "pipekit_child: unknown mode '%s'\n", mode.c_str());
  return 64;
}
