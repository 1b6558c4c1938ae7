#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "pipekit/error.hpp"
#include "pipekit/fifo.hpp"
#include "pipekit/pipe.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Each test's files live in its own private directory.
class temp_dir : public pipekit_test::temp_dir {
 public:
  temp_dir() : pipekit_test::temp_dir("pipekit-fifo") {}
};

// Sets the umask for one scope.
class scoped_umask {
 public:
  explicit scoped_umask(mode_t m) : old_(::umask(m)) {}
  scoped_umask(const scoped_umask&) = delete;
  scoped_umask& operator=(const scoped_umask&) = delete;
  ~scoped_umask() { ::umask(old_); }

 private:
  mode_t old_;
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << p;
  return st.st_mode & 07777;
}

std::string what_of_reader(const fs::path& p) {
  try {
    (void)pipekit::open_fifo_reader(p, pipekit::after(1s));
  } catch (const std::system_error& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(fifo, open_errors_say_what_was_refused_in_words_not_function_names) {
  temp_dir dir;
  EXPECT_EQ(what_of_reader(dir / "missing").rfind("cannot open FIFO " + (dir / "missing") + " for reading: ", 0), 0u)
      << what_of_reader(dir / "missing");
  try {
    (void)pipekit::open_fifo_writer(dir / "missing", pipekit::after(1s));
    FAIL() << "opened";
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cannot open FIFO " + (dir / "missing") + " for writing: ", 0), 0u)
        << e.what();
  }
}

TEST(fifo, create_gives_0600_by_default_whatever_the_umask) {
  for (const mode_t mask : {mode_t{0}, mode_t{077}, mode_t{022}}) {
    temp_dir dir;
    scoped_umask um(mask);
    pipekit::create_fifo(dir / "f");
    EXPECT_EQ(mode_of(dir / "f"), 0600u) << "umask " << mask;
  }
}

TEST(fifo, create_gives_exactly_the_mode_asked_for_under_umask_0_and_077) {
  for (const mode_t mask : {mode_t{0}, mode_t{077}}) {
    for (const unsigned mode : {0600u, 0640u, 0666u, 0620u, 0400u}) {
      temp_dir dir;
      scoped_umask um(mask);
      pipekit::create_fifo(dir / "f", mode);
      EXPECT_EQ(mode_of(dir / "f"), mode) << "umask " << mask << " mode " << mode;
    }
  }
}

TEST(fifo, create_reports_file_exists_for_anything_at_the_path) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  std::error_code ec;
  pipekit::create_fifo(dir / "f", 0600, ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  std::ofstream(dir / "file") << "x";
  pipekit::create_fifo(dir / "file", 0600, ec);
  EXPECT_EQ(ec, std::errc::file_exists);
  pipekit::create_fifo(dir / "bad-mode", 010000, ec);
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "bad-mode"));
}

TEST(fifo, open_refuses_a_symlink_even_to_a_fifo_of_ours) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  fs::create_symlink(dir / "f", dir / "link");
  std::error_code ec;
  auto r = pipekit::open_fifo_reader(dir / "link", pipekit::after(1s), {}, ec);
  EXPECT_EQ(ec, std::errc::too_many_symbolic_link_levels) << ec.message();
  auto w = pipekit::open_fifo_writer(dir / "link", pipekit::after(1s), {}, ec);
  EXPECT_EQ(ec, std::errc::too_many_symbolic_link_levels) << ec.message();
  auto k = pipekit::fifo_reader::open(dir / "link", {}, ec);
  EXPECT_EQ(ec, std::errc::too_many_symbolic_link_levels) << ec.message();
  EXPECT_FALSE(r.is_open() || w.is_open() || k.is_open());
  EXPECT_NE(what_of_reader(dir / "link").find("symbolic link"), std::string::npos) << what_of_reader(dir / "link");
}

TEST(fifo, open_refuses_a_regular_file_a_directory_and_a_device) {
  temp_dir dir;
  std::ofstream(dir / "file") << "data";
  for (const fs::path& p : {fs::path(dir / "file"), dir.path(), fs::path("/dev/null")}) {
    std::error_code ec;
    auto r = pipekit::open_fifo_reader(p, pipekit::after(1s), {.allow_other_owner = true}, ec);
    EXPECT_EQ(ec, pipekit::errc::invalid_argument) << p << ": " << ec.message();
    EXPECT_EQ(ec, std::errc::invalid_argument);
    auto w = pipekit::open_fifo_writer(p, pipekit::after(1s), {.allow_other_owner = true}, ec);
    EXPECT_EQ(ec, std::errc::invalid_argument) << p << ": " << ec.message();
  }
  EXPECT_NE(what_of_reader(dir / "file").find("not a FIFO"), std::string::npos) << what_of_reader(dir / "file");
  // The file was not touched.
  std::ifstream in(dir / "file");
  std::string content;
  in >> content;
  EXPECT_EQ(content, "data");
}

TEST(fifo, open_of_a_missing_path_reports_enoent_unless_asked_to_create) {
  temp_dir dir;
  std::error_code ec;
  auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(1s), {}, ec);
  EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
  // create_if_missing: made with the mode asked for; then no reader comes.
  scoped_umask um(077);
  w = pipekit::open_fifo_writer(dir / "f", pipekit::after(50ms), {.mode = 0640, .create_if_missing = true}, ec);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(mode_of(dir / "f"), 0640u);
}

TEST(fifo, open_refuses_a_fifo_of_another_user_unless_allowed) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "making a FIFO another user owns needs root (CI runs as root); the check is "
                    "st_uid != geteuid() after the open";
  temp_dir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  pipekit::create_fifo(dir / "f", 0666);
  ASSERT_EQ(::chown((dir / "f").c_str(), 65534, 65534), 0);

  // root is not exempt.
  std::error_code ec;
  auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(1s), {}, ec);
  EXPECT_EQ(ec, std::errc::permission_denied) << ec.message();
  auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(1s), {}, ec);
  EXPECT_EQ(ec, std::errc::permission_denied) << ec.message();
  EXPECT_NE(what_of_reader(dir / "f").find("another user"), std::string::npos) << what_of_reader(dir / "f");
  // Allowed: gets past the checks and waits for a reader.
  w = pipekit::open_fifo_writer(dir / "f", pipekit::after(50ms), {.allow_other_owner = true}, ec);
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();

  // And the other way round: user 65534 refuses root's FIFO.
  pipekit::create_fifo(dir / "g", 0666);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    std::error_code cec;
    auto cw = pipekit::open_fifo_writer(dir / "g", pipekit::after(1s), {}, cec);
    if (cec != std::errc::permission_denied) ::_exit(11);
    cw = pipekit::open_fifo_writer(dir / "g", pipekit::after(20ms), {.allow_other_owner = true}, cec);
    ::_exit(cec == std::errc::timed_out ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(fifo, writer_open_times_out_when_no_reader_comes) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  const auto start = pipekit::clock::now();
  std::error_code ec;
  auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(200ms), {}, ec);
  const auto took = pipekit::clock::now() - start;
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(ec, pipekit::errc::timed_out);
  EXPECT_FALSE(w.is_open());
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 2s);
  try {
    (void)pipekit::open_fifo_writer(dir / "f", pipekit::after(10ms));
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("no reader"), std::string::npos) << e.what();
  }
}

TEST(fifo, reader_open_times_out_when_no_writer_comes) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  const auto start = pipekit::clock::now();
  std::error_code ec;
  auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(200ms), {}, ec);
  const auto took = pipekit::clock::now() - start;
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_FALSE(r.is_open());
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 2s);
}

TEST(fifo, reader_and_writer_meet_whichever_comes_first_and_the_reader_sees_eof) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  for (const bool writer_first : {true, false}) {
    std::thread late([&] {
      std::this_thread::sleep_for(100ms);
      if (writer_first) {
        auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(10s));
        EXPECT_FALSE(r.nonblocking());
        EXPECT_EQ(r.read_to_end(), "hello");
      } else {
        auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(10s));
        EXPECT_FALSE(w.nonblocking());
        w.write_all("hello");
      }
    });
    if (writer_first) {
      auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(10s));
      w.write_all("hello");
    } else {
      auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(10s));
      EXPECT_EQ(r.read_to_end(), "hello");
    }
    late.join();
  }
}

TEST(fifo, a_writer_that_comes_and_goes_without_writing_is_a_clean_end_of_stream) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  std::thread writer([&] {
    auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(10s));
    w.close();
  });
  auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(10s));
  writer.join();
  EXPECT_EQ(r.read_to_end(), "");
}

TEST(fifo, keep_open_reader_survives_writer_churn_then_ends_after_close_keep_alive) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  pipekit::fifo_reader r = pipekit::fifo_reader::open(dir / "f");
  EXPECT_TRUE(r.keeps_alive());
  std::string got;
  std::array<std::byte, 256> buf{};
  for (int i = 0; i < 3; ++i) {
    {
      auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(5s));
      pipekit::write_record(w, "writer " + std::to_string(i) + "\n");
    }  // the writer closes: with a plain reader, this would be the end of stream
    std::error_code ec;
    const std::size_t n = r.read_some(buf, pipekit::after(5s), ec);
    ASSERT_FALSE(ec) << ec.message();
    got.append(reinterpret_cast<const char*>(buf.data()), n);
    // No end of stream between writers: the read waits instead.
    const std::size_t more = r.read_some(buf, pipekit::after(50ms), ec);
    EXPECT_EQ(ec, std::errc::timed_out) << "read " << more << " bytes";
  }
  EXPECT_EQ(got, "writer 0\nwriter 1\nwriter 2\n");

  // A writer still connected keeps the stream going after close_keep_alive().
  auto last = pipekit::open_fifo_writer(dir / "f", pipekit::after(5s));
  r.close_keep_alive();
  EXPECT_FALSE(r.keeps_alive());
  pipekit::write_record(last, "last\n");
  last.close();
  std::error_code ec;
  EXPECT_EQ(r.read_to_end(pipekit::after(5s), ec), "last\n");
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.write_some(std::as_bytes(std::span("x", 1)), ec), 0u);
  EXPECT_EQ(ec, pipekit::errc::not_supported);
}

TEST(fifo, a_plain_reader_sees_eof_when_its_writer_closes) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  std::thread writer([&] {
    auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(10s));
    pipekit::write_record(w, "one\n");
  });
  auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(10s));
  writer.join();
  std::error_code ec;
  EXPECT_EQ(r.read_to_end(pipekit::after(5s), ec), "one\n");
  EXPECT_FALSE(ec);
}

// Each record says who wrote it: writer id, sequence number, then a fill
// byte derived from both, so a torn or interleaved record cannot pass.
constexpr std::size_t record_size = 4096;
constexpr std::uint32_t writers = 8;
constexpr std::uint32_t records_per_writer = 2000;

std::byte fill_of(std::uint32_t id, std::uint32_t seq) {
  return static_cast<std::byte>((id * 31 + seq * 7 + 1) & 0xff);
}

TEST(fifo, eight_writers_times_2000_records_of_pipe_buf_bytes_never_tear) {
  ASSERT_EQ(pipekit::pipe_atomic_write_size(), record_size) << "this test assumes Linux's PIPE_BUF";
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  // All writers connect before any writes, so the reader cannot see the end
  // of stream between one writer's close and the next one's open.
  std::latch all_open(writers);
  std::vector<std::thread> threads;
  for (std::uint32_t id = 0; id < writers; ++id) {
    threads.emplace_back([&, id] {
      std::error_code ec;
      auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(30s), {}, ec);
      all_open.count_down();
      if (ec) {
        ADD_FAILURE() << ec.message();
        return;
      }
      all_open.wait();
      std::vector<std::byte> rec(record_size);
      for (std::uint32_t seq = 0; seq < records_per_writer; ++seq) {
        std::memset(rec.data(), static_cast<int>(fill_of(id, seq)), rec.size());
        std::memcpy(rec.data(), &id, 4);
        std::memcpy(rec.data() + 4, &seq, 4);
        pipekit::write_record(w, rec, true, ec);
        if (ec) {
          ADD_FAILURE() << ec.message();
          return;
        }
      }
    });
  }
  auto r = pipekit::open_fifo_reader(dir / "f", pipekit::after(30s));
  std::vector<std::uint32_t> next(writers, 0);
  std::vector<std::byte> rec(record_size);
  std::size_t total = 0;
  std::size_t torn = 0;
  for (;;) {
    std::error_code ec;
    const std::size_t n = r.read_exact(rec, pipekit::after(60s), ec);
    if (n == 0 && ec == pipekit::errc::end_of_file) break;
    ASSERT_FALSE(ec) << ec.message() << " after " << total << " records";
    std::uint32_t id = 0;
    std::uint32_t seq = 0;
    std::memcpy(&id, rec.data(), 4);
    std::memcpy(&seq, rec.data() + 4, 4);
    ASSERT_LT(id, writers) << "record " << total;
    ASSERT_EQ(seq, next[id]) << "writer " << id << ", record " << total;
    ++next[id];
    for (std::size_t i = 8; i < record_size; ++i)
      if (rec[i] != fill_of(id, seq)) {
        ++torn;
        break;
      }
    ++total;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(total, std::size_t{writers} * records_per_writer);
  for (std::uint32_t id = 0; id < writers; ++id) EXPECT_EQ(next[id], records_per_writer) << "writer " << id;
}

TEST(fifo, atomic_mode_refuses_a_record_above_pipe_buf_and_writes_nothing) {
  temp_dir dir;
  pipekit::create_fifo(dir / "f");
  pipekit::fifo_reader r = pipekit::fifo_reader::open(dir / "f");
  auto w = pipekit::open_fifo_writer(dir / "f", pipekit::after(5s));
  const std::vector<std::byte> big(pipekit::pipe_atomic_write_size() + 1, std::byte{'x'});
  std::error_code ec;
  EXPECT_EQ(pipekit::write_record(w, big, true, ec), 0u);
  EXPECT_EQ(ec, pipekit::errc::message_too_large);
  EXPECT_EQ(ec, std::errc::message_size);
  try {
    pipekit::write_record(w, big);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("PIPE_BUF"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nothing was written"), std::string::npos) << e.what();
  }
  std::array<std::byte, 16> buf{};
  (void)r.read_some(buf, pipekit::after(50ms), ec);
  EXPECT_EQ(ec, std::errc::timed_out) << "something was written";

  // Exactly PIPE_BUF goes out; larger ones too when atomicity is not asked for.
  const std::vector<std::byte> max(pipekit::pipe_atomic_write_size(), std::byte{'y'});
  EXPECT_EQ(pipekit::write_record(w, max, true, ec), max.size());
  EXPECT_FALSE(ec);
  EXPECT_EQ(pipekit::write_record(w, big, false, ec), big.size());
  EXPECT_FALSE(ec);
  w.close();
  r.close_keep_alive();
  EXPECT_EQ(r.read_to_end(pipekit::after(5s), ec).size(), max.size() + big.size());
}

}  // namespace
