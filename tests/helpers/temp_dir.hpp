// A private temporary directory for one test (0700, from mkdtemp), removed
// with everything in it when the test ends. POSIX tests only.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace pipekit_test {

class temp_dir {
 public:
  explicit temp_dir(const char* prefix = "pipekit-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string operator/(const char* name) const { return (path_ / name).string(); }
  // A path for a Unix socket inside the directory.
  [[nodiscard]] std::string socket() const { return (path_ / "s").string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace pipekit_test
