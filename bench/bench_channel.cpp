// Message channels against hand-written raw C loops of the same frames
// (multiprocessing's wire format: 4-byte big-endian length + payload).
// Sender and receiver are two threads of this process for both sides of
// every pair; Python's numbers come from bench/channel_python.py (two
// processes: the GIL would serialise two threads).
//
//   BM_channel_small/<impl>/transport:T/size:100      100-byte messages, 20,000 per iteration (items/s)
//     pipekit       channel_pair() (T = socketpair) or channel_pair(false) (T = pipe): send() / recv(std::string&)
//     raw           one write() of header+payload per message; the reader read()s the 4-byte header,
//                   then the payload (the syscall pattern of a plain C loop, and of Python's recv_bytes)
//     raw_buffered  the same writes; the reader read()s 64 KiB at a time and cuts frames out of its
//                   buffer into a std::string (what pipekit's receive buffer does; context)
//     raw_sigpipe_guard  (pipes) raw, with SIGPIPE blocked around each write() as pipekit must
//                   (it never changes the process's disposition; context)
//   BM_channel_batch/<impl>/transport:T/size:100/batch:64   the same 20,000 messages, 64 per call (context)
//     pipekit       send_batch() of 64 messages (one write); recv() one by one
//     raw           64 frames prepared in one buffer, one write(); the raw_buffered reader
//   BM_channel_large/<impl>/transport:T/size:1MiB      64 messages of 1 MiB per iteration (bytes/s)
//     pipekit       as above, recv() into a reused std::string
//     raw           writev() of header + payload; read_exact() of the header, then of the payload
//                   into a reused buffer
//     raw_unframed  plain 1 MiB write()s and read_exact()s: the pipe's own throughput
//   BM_channel_roundtrip/<impl>/transport:T/cpu:P/size:1   one 1-byte message there and back (items/s)
//     pipekit       an echo thread: recv() then send(); the benchmark thread send()s and recv()s
//     raw           the same with write() of the frame and read()s of header and payload
//     raw_sigpipe_guard  (pipes) raw with the SIGPIPE guard around each write() (context)
//     transport:pipe uses two pipes; cpu:same pins both threads to one CPU (pthread_setaffinity_np),
//     cpu:free leaves placement to the scheduler
//   BM_channel_crossing/<impl>/transport:socketpair/size:2GiB+1   one-shot: one message of 2 GiB + 1
//     byte (the -1 + 8-byte length form) to a reader thread; size, the first and the last MiB checked
//     pipekit            send() / recv(); the header on the wire is checked with MSG_PEEK
//     raw                writev() of the 12-byte header + payload, read into a malloc'd buffer
//     python_sender      python3 bench/channel_python.py sends it with Connection.send_bytes;
//                        pipekit recv()s it
//
// Only ratios within one run mean anything (see bench/README.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pipekit/channel.hpp"
#include "pipekit/pipe.hpp"
#include "pipekit/process.hpp"

namespace {

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * kib;
constexpr int small_per_iteration = 20000;
constexpr int large_per_iteration = 64;
constexpr std::size_t crossing_size = (std::size_t{2} << 30) + 1;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

// ---- raw helpers ----------------------------------------------------------------

void put_be32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}
std::uint32_t get_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void raw_write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
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

void raw_writev_all(int fd, struct iovec* iov, int count) {
  while (count > 0) {
    ssize_t k = ::writev(fd, iov, count);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("writev");
    }
    while (count > 0 && static_cast<std::size_t>(k) >= iov->iov_len) {
      k -= static_cast<ssize_t>(iov->iov_len);
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + k;
      iov->iov_len -= static_cast<std::size_t>(k);
    }
  }
}

// false at end of stream before the first byte.
bool raw_read_exact(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t k = ::read(fd, p + done, n - done);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (k == 0) {
      if (done == 0) return false;
      die("read: end of stream inside a frame");
    }
    done += static_cast<std::size_t>(k);
  }
  return true;
}

// raw_write_all() with SIGPIPE blocked around each write(), the way a program
// that must survive a vanished reader without changing the process's SIGPIPE
// disposition writes to a pipe (and the way pipekit does): two
// pthread_sigmask() calls per write. Sockets need none (MSG_NOSIGNAL).
void raw_write_all_guarded(int fd, const void* data, std::size_t n) {
  sigset_t pipe_only;
  sigset_t old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  raw_write_all(fd, data, n);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// One direction of a raw transport: what the sender writes, the receiver reads.
struct raw_link {
  int tx = -1;
  int rx = -1;
  explicit raw_link(bool socket) {
    int fds[2];
    if (socket) {
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) die("socketpair");
      tx = fds[0];
      rx = fds[1];
    } else {
      if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe2");
      // The capacity pipekit gives its pipes (make_pipe's default).
      if (::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(pipekit::default_pipe_capacity)) < 0) die("F_SETPIPE_SZ");
      tx = fds[1];
      rx = fds[0];
    }
  }
  raw_link(const raw_link&) = delete;
  raw_link& operator=(const raw_link&) = delete;
  ~raw_link() {
    close_tx();
    if (rx >= 0) ::close(rx);
  }
  void close_tx() {
    if (tx >= 0) ::close(tx);
    tx = -1;
  }
};

// A channel end that sends and one that receives, over `socket` or a pipe.
struct pipekit_link {
  pipekit::channel_ends ends;
  pipekit::channel& tx;
  pipekit::channel& rx;
  explicit pipekit_link(bool socket, const pipekit::channel_options& o = {})
      : ends(pipekit::channel_pair(socket, o)),
        tx(socket ? ends.first : ends.second),
        rx(socket ? ends.second : ends.first) {}
};

const char* transport_name(bool socket) { return socket ? "socketpair" : "pipe"; }

// Pins the calling thread to one CPU for its lifetime; restores the old mask.
class pin_to_cpu {
 public:
  explicit pin_to_cpu(int cpu) {
    if (cpu < 0) return;
    if (pthread_getaffinity_np(pthread_self(), sizeof old_, &old_) != 0) die("pthread_getaffinity_np");
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) die("pthread_setaffinity_np");
    active_ = true;
  }
  pin_to_cpu(const pin_to_cpu&) = delete;
  pin_to_cpu& operator=(const pin_to_cpu&) = delete;
  ~pin_to_cpu() {
    if (active_) pthread_setaffinity_np(pthread_self(), sizeof old_, &old_);
  }

 private:
  cpu_set_t old_{};
  bool active_ = false;
};

// The first CPU this thread may run on: where cpu:same puts both threads.
int first_allowed_cpu() {
  cpu_set_t set;
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pthread_getaffinity_np");
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) return c;
  return 0;
}

// ---- small messages ------------------------------------------------------------------

void small_pipekit(benchmark::State& state, bool socket, std::size_t size) {
  pipekit_link link(socket);
  const std::string msg(size, 'm');
  std::string out;
  for (auto _ : state) {
    std::thread sender([&] {
      for (int i = 0; i < small_per_iteration; ++i) link.tx.send(msg);
    });
    for (int i = 0; i < small_per_iteration; ++i)
      if (!link.rx.recv(out) || out.size() != size) die("recv");
    sender.join();
  }
  state.SetItemsProcessed(state.iterations() * small_per_iteration);
}

std::vector<unsigned char> frame_of(std::size_t size) {
  std::vector<unsigned char> f(4 + size, 'm');
  put_be32(f.data(), static_cast<std::uint32_t>(size));
  return f;
}

void small_raw(benchmark::State& state, bool socket, std::size_t size, bool buffered, bool guarded = false) {
  raw_link link(socket);
  const std::vector<unsigned char> frame = frame_of(size);
  std::vector<unsigned char> body(size + 1);
  std::vector<unsigned char> buf(64 * kib);
  std::string out;
  for (auto _ : state) {
    std::thread sender([&] {
      for (int i = 0; i < small_per_iteration; ++i) {
        if (guarded) {
          raw_write_all_guarded(link.tx, frame.data(), frame.size());
        } else {
          raw_write_all(link.tx, frame.data(), frame.size());
        }
      }
    });
    if (!buffered) {
      for (int i = 0; i < small_per_iteration; ++i) {
        unsigned char h[4];
        if (!raw_read_exact(link.rx, h, 4)) die("eof");
        const std::uint32_t n = get_be32(h);
        if (n != size || !raw_read_exact(link.rx, body.data(), n)) die("frame");
      }
    } else {
      std::size_t begin = 0;
      std::size_t end = 0;
      int got = 0;
      while (got < small_per_iteration) {
        if (end - begin >= 4) {
          const std::uint32_t n = get_be32(buf.data() + begin);
          if (end - begin >= 4 + n) {
            out.assign(reinterpret_cast<const char*>(buf.data() + begin + 4), n);
            begin += 4 + n;
            ++got;
            continue;
          }
        }
        if (begin > 0) {
          std::memmove(buf.data(), buf.data() + begin, end - begin);
          end -= begin;
          begin = 0;
        }
        const ssize_t k = ::read(link.rx, buf.data() + end, buf.size() - end);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die("read");
        end += static_cast<std::size_t>(k);
      }
      benchmark::DoNotOptimize(out.data());
    }
    sender.join();
  }
  state.SetItemsProcessed(state.iterations() * small_per_iteration);
}

// ---- small messages in batches ----------------------------------------------------------

void batch_pipekit(benchmark::State& state, bool socket, std::size_t size, std::size_t batch) {
  pipekit_link link(socket);
  const std::string msg(size, 'm');
  const std::vector<std::string_view> messages(batch, msg);
  std::string out;
  const int batches = small_per_iteration / static_cast<int>(batch);
  for (auto _ : state) {
    std::thread sender([&] {
      for (int i = 0; i < batches; ++i) (void)link.tx.send_batch(messages);
    });
    for (int i = 0; i < batches * static_cast<int>(batch); ++i)
      if (!link.rx.recv(out) || out.size() != size) die("recv");
    sender.join();
  }
  state.SetItemsProcessed(state.iterations() * batches * static_cast<std::int64_t>(batch));
}

// The raw version of a batch: the frames prepared in one buffer, one write();
// the reader cuts frames out of 64 KiB reads.
void batch_raw(benchmark::State& state, bool socket, std::size_t size, std::size_t batch) {
  raw_link link(socket);
  const std::vector<unsigned char> frame = frame_of(size);
  const int batches = small_per_iteration / static_cast<int>(batch);
  std::vector<unsigned char> buf(64 * kib);
  std::string out;
  for (auto _ : state) {
    std::thread sender([&] {
      std::vector<unsigned char> frames;
      for (int i = 0; i < batches; ++i) {
        frames.clear();
        for (std::size_t k = 0; k < batch; ++k) frames.insert(frames.end(), frame.begin(), frame.end());
        raw_write_all(link.tx, frames.data(), frames.size());
      }
    });
    std::size_t begin = 0;
    std::size_t end = 0;
    int got = 0;
    while (got < batches * static_cast<int>(batch)) {
      if (end - begin >= 4) {
        const std::uint32_t n = get_be32(buf.data() + begin);
        if (end - begin >= 4 + n) {
          out.assign(reinterpret_cast<const char*>(buf.data() + begin + 4), n);
          begin += 4 + n;
          ++got;
          continue;
        }
      }
      if (begin > 0) {
        std::memmove(buf.data(), buf.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      const ssize_t k = ::read(link.rx, buf.data() + end, buf.size() - end);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) die("read");
      end += static_cast<std::size_t>(k);
    }
    benchmark::DoNotOptimize(out.data());
    sender.join();
  }
  state.SetItemsProcessed(state.iterations() * batches * static_cast<std::int64_t>(batch));
}

// ---- 1 MiB messages -------------------------------------------------------------------

void large_pipekit(benchmark::State& state, bool socket, std::size_t size) {
  pipekit_link link(socket);
  const std::string msg(size, 'L');
  std::string out;
  for (auto _ : state) {
    std::thread sender([&] {
      for (int i = 0; i < large_per_iteration; ++i) link.tx.send(msg);
    });
    for (int i = 0; i < large_per_iteration; ++i)
      if (!link.rx.recv(out) || out.size() != size) die("recv");
    sender.join();
  }
  state.SetBytesProcessed(state.iterations() * large_per_iteration * static_cast<std::int64_t>(size));
}

void large_raw(benchmark::State& state, bool socket, std::size_t size, bool framed) {
  raw_link link(socket);
  const std::vector<unsigned char> msg(size, 'L');
  std::vector<unsigned char> in(size);
  for (auto _ : state) {
    std::thread sender([&] {
      for (int i = 0; i < large_per_iteration; ++i) {
        if (framed) {
          unsigned char h[4];
          put_be32(h, static_cast<std::uint32_t>(size));
          struct iovec iov[2] = {{h, 4}, {const_cast<unsigned char*>(msg.data()), size}};
          raw_writev_all(link.tx, iov, 2);
        } else {
          raw_write_all(link.tx, msg.data(), size);
        }
      }
    });
    for (int i = 0; i < large_per_iteration; ++i) {
      if (framed) {
        unsigned char h[4];
        if (!raw_read_exact(link.rx, h, 4) || get_be32(h) != size) die("header");
      }
      if (!raw_read_exact(link.rx, in.data(), size)) die("payload");
    }
    sender.join();
    benchmark::DoNotOptimize(in.data());
  }
  state.SetBytesProcessed(state.iterations() * large_per_iteration * static_cast<std::int64_t>(size));
}

// ---- round trip ------------------------------------------------------------------------

void roundtrip_pipekit(benchmark::State& state, bool socket, bool same_cpu) {
  const int cpu = same_cpu ? first_allowed_cpu() : -1;
  pipekit::channel near;
  pipekit::channel far;
  if (socket) {
    auto ends = pipekit::channel_pair();
    near = std::move(ends.first);
    far = std::move(ends.second);
  } else {
    auto there = pipekit::make_pipe();
    auto back = pipekit::make_pipe();
    near = pipekit::channel(std::move(back.read_end), std::move(there.write_end));
    far = pipekit::channel(std::move(there.read_end), std::move(back.write_end));
  }
  std::thread echo([&] {
    pin_to_cpu pin(cpu);
    std::string m;
    while (far.recv(m)) far.send(m);
  });
  {
    pin_to_cpu pin(cpu);
    const std::string ping(1, 'p');
    std::string pong;
    for (auto _ : state) {
      near.send(ping);
      if (!near.recv(pong)) die("recv");
    }
  }
  near.close_send();
  echo.join();
  state.SetItemsProcessed(state.iterations());
}

void roundtrip_raw(benchmark::State& state, bool socket, bool same_cpu, bool guarded = false) {
  const auto write_frame = guarded ? raw_write_all_guarded : raw_write_all;
  const int cpu = same_cpu ? first_allowed_cpu() : -1;
  raw_link there(socket);
  raw_link back(socket);
  std::thread echo([&] {
    pin_to_cpu pin(cpu);
    unsigned char buf[4 + 64];
    for (;;) {
      if (!raw_read_exact(there.rx, buf, 4)) break;
      const std::uint32_t n = get_be32(buf);
      if (n > 64 || !raw_read_exact(there.rx, buf + 4, n)) die("frame");
      write_frame(back.tx, buf, 4 + n);
    }
  });
  {
    pin_to_cpu pin(cpu);
    const std::vector<unsigned char> ping = frame_of(1);
    unsigned char h[4];
    unsigned char b[1];
    for (auto _ : state) {
      write_frame(there.tx, ping.data(), ping.size());
      if (!raw_read_exact(back.rx, h, 4) || get_be32(h) != 1 || !raw_read_exact(back.rx, b, 1)) die("pong");
    }
  }
  there.close_tx();
  echo.join();
  state.SetItemsProcessed(state.iterations());
}

// ---- 2 GiB + 1 byte, once ---------------------------------------------------------------

// A source buffer of `n` bytes whose first and last MiB hold a pattern; the
// pages between are never touched (they read as zeros from the zero page),
// so the sender does not hold 2 GiB of memory too.
struct big_source {
  std::byte* p = nullptr;
  std::size_t n = 0;
  explicit big_source(std::size_t size) : n(size) {
    void* m = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("mmap");
    p = static_cast<std::byte*>(m);
    for (std::size_t i = 0; i < mib; ++i) {
      p[i] = static_cast<std::byte>(i % 251);
      p[n - mib + i] = static_cast<std::byte>((i + 7) % 251);
    }
  }
  big_source(const big_source&) = delete;
  big_source& operator=(const big_source&) = delete;
  ~big_source() { ::munmap(p, n); }
};

bool ends_match(const std::byte* got, std::size_t n, const big_source& src) {
  return n == src.n && std::memcmp(got, src.p, mib) == 0 && std::memcmp(got + n - mib, src.p + n - mib, mib) == 0 &&
         got[n / 2] == std::byte{0};
}

void crossing_pipekit(benchmark::State& state) {
  const big_source src(crossing_size);
  pipekit::channel_options o;
  o.max_message_size = crossing_size;
  for (auto _ : state) {
    // Named ends rather than a structured binding: clang before 16 cannot
    // capture a binding in the sender lambda.
    pipekit::channel_ends ends = pipekit::channel_pair(true, o);
    pipekit::channel& a = ends.first;
    pipekit::channel& b = ends.second;
    std::thread sender([&] { a.send(std::span<const std::byte>(src.p, src.n)); });
    // The wire header, before recv() consumes it: -1, then the 8-byte length.
    unsigned char h[12];
    std::size_t peeked = 0;
    while (peeked < 12) {
      const ssize_t k = ::recv(b.read_handle(), h, 12, MSG_PEEK);
      if (k <= 0) die("recv(MSG_PEEK)");
      peeked = static_cast<std::size_t>(k);
    }
    const unsigned char want[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 1};
    if (std::memcmp(h, want, 12) != 0) state.SkipWithError("wrong header on the wire for 2 GiB + 1");
    std::string out;
    if (!b.recv(out)) die("recv");
    sender.join();
    if (!ends_match(reinterpret_cast<const std::byte*>(out.data()), out.size(), src))
      state.SkipWithError("2 GiB + 1 message arrived damaged");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(crossing_size));
}

void crossing_raw(benchmark::State& state) {
  const big_source src(crossing_size);
  for (auto _ : state) {
    raw_link link(true);
    std::thread sender([&] {
      unsigned char h[12] = {0xff, 0xff, 0xff, 0xff};
      for (int i = 0; i < 8; ++i)
        h[4 + i] = static_cast<unsigned char>(static_cast<std::uint64_t>(src.n) >> (56 - 8 * i));
      struct iovec iov[2] = {{h, 12}, {src.p, src.n}};
      raw_writev_all(link.tx, iov, 2);
    });
    unsigned char h[12];
    if (!raw_read_exact(link.rx, h, 12)) die("header");
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | h[4 + i];
    std::unique_ptr<std::byte, decltype(&std::free)> buf(static_cast<std::byte*>(std::malloc(n)), &std::free);
    if (!buf || !raw_read_exact(link.rx, buf.get(), n)) die("payload");
    sender.join();
    if (!ends_match(buf.get(), n, src)) state.SkipWithError("2 GiB + 1 message arrived damaged");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(crossing_size));
}

void crossing_python_sender(benchmark::State& state) {
  pipekit::channel_options o;
  o.max_message_size = crossing_size;
  for (auto _ : state) {
    auto [mine, theirs] = pipekit::channel_pair(true, o);
    const std::string script = PIPEKIT_SOURCE_DIR "/bench/channel_python.py";
    pipekit::command cmd{"python3", script, "send-big", std::to_string(crossing_size), "--fd", "3"};
    cmd.pass_handle(theirs.native_handle(), 3);
    std::error_code ec;
    pipekit::process p = cmd.spawn(ec);
    if (ec) {
      state.SkipWithError(("cannot start python3: " + ec.message()).c_str());
      break;
    }
    theirs.close();
    std::string out;
    if (!mine.recv(out)) die("recv");
    // channel_python.py marks the first 16 bytes and the last one.
    bool ok = out.size() == crossing_size && out.back() == 'Z';
    for (std::size_t i = 0; ok && i < 16; ++i) ok = out[i] == static_cast<char>('A' + i);
    if (!ok) state.SkipWithError("2 GiB + 1 message from Python arrived damaged");
    if (!p.wait().success()) state.SkipWithError("python3 sender failed");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(crossing_size));
}

// ---- registration -------------------------------------------------------------------------

void register_all() {
  constexpr double min_time_s = 0.3;
  const auto tune = [](benchmark::internal::Benchmark* b) { b->UseRealTime()->MinTime(min_time_s); };
  for (const bool socket : {true, false}) {
    const std::string t = std::string("/transport:") + transport_name(socket);
    tune(benchmark::RegisterBenchmark(("BM_channel_small/pipekit" + t + "/size:100").c_str(),
                                      [socket](benchmark::State& s) { small_pipekit(s, socket, 100); }));
    tune(benchmark::RegisterBenchmark(("BM_channel_small/raw" + t + "/size:100").c_str(),
                                      [socket](benchmark::State& s) { small_raw(s, socket, 100, false); }));
    tune(benchmark::RegisterBenchmark(("BM_channel_small/raw_buffered" + t + "/size:100").c_str(),
                                      [socket](benchmark::State& s) { small_raw(s, socket, 100, true); }));
    if (!socket) {
      tune(benchmark::RegisterBenchmark(("BM_channel_small/raw_sigpipe_guard" + t + "/size:100").c_str(),
                                        [](benchmark::State& s) { small_raw(s, false, 100, false, true); }));
    }
  }
  for (const bool socket : {true, false}) {
    const std::string t = std::string("/transport:") + transport_name(socket) + "/size:100/batch:64";
    tune(benchmark::RegisterBenchmark(("BM_channel_batch/pipekit" + t).c_str(),
                                      [socket](benchmark::State& s) { batch_pipekit(s, socket, 100, 64); }));
    tune(benchmark::RegisterBenchmark(("BM_channel_batch/raw" + t).c_str(),
                                      [socket](benchmark::State& s) { batch_raw(s, socket, 100, 64); }));
  }
  for (const bool socket : {false, true}) {
    const std::string t = std::string("/transport:") + transport_name(socket);
    tune(benchmark::RegisterBenchmark(("BM_channel_large/pipekit" + t + "/size:1MiB").c_str(),
                                      [socket](benchmark::State& s) { large_pipekit(s, socket, mib); }));
    tune(benchmark::RegisterBenchmark(("BM_channel_large/raw" + t + "/size:1MiB").c_str(),
                                      [socket](benchmark::State& s) { large_raw(s, socket, mib, true); }));
    tune(benchmark::RegisterBenchmark(("BM_channel_large/raw_unframed" + t + "/size:1MiB").c_str(),
                                      [socket](benchmark::State& s) { large_raw(s, socket, mib, false); }));
  }
  for (const bool socket : {false, true}) {
    for (const bool same : {true, false}) {
      const std::string tail =
          std::string("/transport:") + transport_name(socket) + (same ? "/cpu:same" : "/cpu:free") + "/size:1";
      tune(benchmark::RegisterBenchmark(("BM_channel_roundtrip/pipekit" + tail).c_str(),
                                        [socket, same](benchmark::State& s) { roundtrip_pipekit(s, socket, same); }));
      tune(benchmark::RegisterBenchmark(("BM_channel_roundtrip/raw" + tail).c_str(),
                                        [socket, same](benchmark::State& s) { roundtrip_raw(s, socket, same); }));
      if (!socket) {
        tune(benchmark::RegisterBenchmark(("BM_channel_roundtrip/raw_sigpipe_guard" + tail).c_str(),
                                          [same](benchmark::State& s) { roundtrip_raw(s, false, same, true); }));
      }
    }
  }
  // One-shot, 2 GiB of memory each: bench/run_benchmarks.sh runs them apart.
  const auto once = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  };
  once(benchmark::RegisterBenchmark("BM_channel_crossing/pipekit/transport:socketpair/size:2GiB+1", crossing_pipekit));
  once(benchmark::RegisterBenchmark("BM_channel_crossing/raw/transport:socketpair/size:2GiB+1", crossing_raw));
  once(benchmark::RegisterBenchmark("BM_channel_crossing/python_sender/transport:socketpair/size:2GiB+1",
                                    crossing_python_sender));
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
