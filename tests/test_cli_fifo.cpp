// `pipekit fifo create|read|write`, driven as a user would: pipekit commands
// on both ends of a FIFO.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "helpers/temp_dir.hpp"
#include "pipekit/deadline.hpp"
#include "pipekit/process.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto test_time = 30s;
const std::string cli_path = PIPEKIT_CLI_PATH;

// Each test's files live in its own private directory.
class temp_dir : public pipekit_test::temp_dir {
 public:
  temp_dir() : pipekit_test::temp_dir("pipekit-cli-fifo") {}
};

struct finished {
  int code;
  std::string out;
  std::string err;
};

pipekit::process start_cli(const std::vector<std::string>& args) {
  pipekit::command c{cli_path};
  c.args(args);
  c.kill_on_parent_death();
  c.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe()).set_stderr(pipekit::stdio::pipe());
  return c.spawn();
}

finished finish(pipekit::process& p, std::string_view input = {}) {
  auto r = p.communicate(input, pipekit::after(test_time));
  const pipekit::exit_status st = p.wait();
  EXPECT_FALSE(st.was_signaled()) << st.to_string() << "\nstderr: " << r.err;
  return {st.code().value_or(-1), r.out, r.err};
}

finished run_cli(const std::vector<std::string>& args, std::string_view input = {}) {
  auto p = start_cli(args);
  return finish(p, input);
}

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

unsigned mode_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << p;
  return st.st_mode & 07777;
}

class scoped_umask {
 public:
  explicit scoped_umask(mode_t m) : old_(::umask(m)) {}
  scoped_umask(const scoped_umask&) = delete;
  scoped_umask& operator=(const scoped_umask&) = delete;
  ~scoped_umask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(cli_fifo, create_makes_an_owner_only_fifo_or_exactly_the_mode_given) {
  temp_dir dir;
  scoped_umask um(077);  // the command inherits it; it must not matter
  auto r = run_cli({"fifo", "create", dir / "a"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(mode_of(dir / "a"), 0600u);
  r = run_cli({"fifo", "create", dir / "b", "--mode", "0664"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(mode_of(dir / "b"), 0664u);
}

TEST(cli_fifo, create_fails_on_an_existing_path_and_a_bad_mode) {
  temp_dir dir;
  ASSERT_EQ(run_cli({"fifo", "create", dir / "a"}).code, 0);
  auto r = run_cli({"fifo", "create", dir / "a"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "exists")) << r.err;
  r = run_cli({"fifo", "create", dir / "b", "--mode", "rw"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "octal")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "b"));
}

TEST(cli_fifo, write_sends_stdin_lines_that_read_prints) {
  temp_dir dir;
  ASSERT_EQ(run_cli({"fifo", "create", dir / "f"}).code, 0);
  auto reader = start_cli({"fifo", "read", dir / "f", "--timeout", "30"});
  auto w = run_cli({"fifo", "write", dir / "f", "--timeout", "30"}, "one\n\nthree\nno newline");
  EXPECT_EQ(w.code, 0) << w.err;
  auto r = finish(reader);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "one\n\nthree\nno newline");
}

TEST(cli_fifo, read_and_write_exit_124_when_no_peer_comes) {
  temp_dir dir;
  ASSERT_EQ(run_cli({"fifo", "create", dir / "f"}).code, 0);
  for (const char* verb : {"read", "write"}) {
    const auto start = pipekit::clock::now();
    auto r = run_cli({"fifo", verb, dir / "f", "--timeout", "0.3"});
    const auto took = pipekit::clock::now() - start;
    EXPECT_EQ(r.code, 124) << verb << ": " << r.err;
    EXPECT_TRUE(has(r.err, "within 0.3 s")) << r.err;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 10s);
  }
}

TEST(cli_fifo, write_sends_a_line_longer_than_pipe_buf_in_parts_names_it_and_drops_nothing) {
  temp_dir dir;
  ASSERT_EQ(run_cli({"fifo", "create", dir / "f"}).code, 0);
  auto reader = start_cli({"fifo", "read", dir / "f", "--timeout", "30"});
  const std::string input = "short\n" + std::string(5000, 'x') + "\nafter\n";
  auto w = run_cli({"fifo", "write", dir / "f", "--timeout", "30"}, input);
  EXPECT_EQ(w.code, 0) << w.err;
  EXPECT_TRUE(has(w.err, "warning: line 2 is 5001 bytes")) << w.err;
  EXPECT_TRUE(has(w.err, "PIPE_BUF")) << w.err;
  auto r = finish(reader);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out == input) << "the reader got " << r.out.size() << " of " << input.size() << " bytes";
}

TEST(cli_fifo, write_stream_copies_binary_data_byte_for_byte) {
  temp_dir dir;
  auto reader = start_cli({"fifo", "read", dir / "f", "--timeout", "30"});
  std::string data;
  for (int i = 0; i < 300 * 1024; ++i) data.push_back(static_cast<char>((i * 7) % 256));  // NULs, no line ends
  auto w = run_cli({"fifo", "write", dir / "f", "--stream", "--timeout", "30"}, data);
  EXPECT_EQ(w.code, 0) << w.err;
  EXPECT_EQ(w.err, "");
  auto r = finish(reader);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data) << "not copied byte for byte";
}

TEST(cli_fifo, read_and_write_create_a_missing_fifo_owner_only_as_msg_fifo_does) {
  for (const char* first : {"read", "write"}) {
    SCOPED_TRACE(std::string(first) + " first");
    temp_dir dir;
    scoped_umask um(0);  // the commands inherit it: the FIFO must not be more open than 0600 anyway
    const bool reader_first = std::string(first) == "read";
    auto a = start_cli({"fifo", first, dir / "f", "--timeout", "30"});
    auto b = start_cli({"fifo", reader_first ? "write" : "read", dir / "f", "--timeout", "30"});
    auto& writer = reader_first ? b : a;
    auto& reader = reader_first ? a : b;
    const finished wrote = finish(writer, "hello\n");
    const finished got = finish(reader);
    EXPECT_EQ(wrote.code, 0) << wrote.err;
    EXPECT_EQ(got.code, 0) << got.err;
    EXPECT_EQ(got.out, "hello\n");
    EXPECT_EQ(mode_of(dir / "f"), 0600u);
  }
}

TEST(cli_fifo, timeouts_take_durations_with_units) {
  temp_dir dir;
  const auto r = run_cli({"fifo", "read", dir / "f", "--timeout", "300ms"});
  EXPECT_EQ(r.code, 124) << r.err;
  EXPECT_TRUE(has(r.err, "within 0.3 s")) << r.err;
}

TEST(cli_fifo, errors_are_in_words_without_internal_function_names) {
  temp_dir dir;
  std::ofstream(dir / "file") << "data\n";
  for (const char* verb : {"read", "write"}) {
    const auto r = run_cli({"fifo", verb, dir / "file", "--timeout", "5"});
    EXPECT_EQ(r.code, 1) << verb;
    const std::string how = std::string(verb) == "read" ? "reading" : "writing";
    EXPECT_EQ(r.err.rfind("pipekit: cannot open FIFO " + dir / "file" + " for " + how + ": not a FIFO", 0), 0u)
        << r.err;
  }
}

TEST(cli_fifo, read_and_write_refuse_a_symlink_and_a_regular_file) {
  temp_dir dir;
  ASSERT_EQ(run_cli({"fifo", "create", dir / "f"}).code, 0);
  fs::create_symlink(dir / "f", dir / "link");
  std::ofstream(dir / "file") << "data\n";
  for (const char* verb : {"read", "write"}) {
    auto r = run_cli({"fifo", verb, dir / "link", "--timeout", "5"});
    EXPECT_EQ(r.code, 1) << verb;
    EXPECT_TRUE(has(r.err, "symbolic link")) << r.err;
    r = run_cli({"fifo", verb, dir / "file", "--timeout", "5"});
    EXPECT_EQ(r.code, 1) << verb;
    EXPECT_TRUE(has(r.err, "not a FIFO")) << r.err;
  }
}

TEST(cli_fifo, read_keep_open_prints_what_writers_one_after_another_send) {
  temp_dir dir;
  ASSERT_EQ(run_cli({"fifo", "create", dir / "f"}).code, 0);
  auto reader = start_cli({"fifo", "read", dir / "f", "--keep-open", "--timeout", "30"});
  for (const char* line : {"w0\n", "w1\n", "w2\n"}) {
    auto w = run_cli({"fifo", "write", dir / "f", "--timeout", "30"}, line);
    ASSERT_EQ(w.code, 0) << w.err;
  }
  std::string got;
  std::array<std::byte, 64> buf{};
  const auto until = pipekit::after(test_time);
  while (got.size() < 9) {
    std::error_code ec;
    const std::size_t n = reader.out().read_some(buf, until, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_NE(n, 0u) << "the reader ended after " << got;
    got.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  EXPECT_EQ(got, "w0\nw1\nw2\n");
  // Still running after three writers came and went: it ends only when stopped.
  const pipekit::exit_status st = reader.terminate(5s);
  EXPECT_TRUE(st.was_signaled()) << st.to_string();
}

}  // namespace
