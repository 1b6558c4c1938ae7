// A private temporary directory for one test, removed with everything in it
// when the test ends. On POSIX it is 0700, from mkdtemp; on Windows it gets
// the default security of the user's temporary directory.
#pragma once

#ifdef _WIN32
#include <windows.h>
#else
#include <stdlib.h>
#endif

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace pipekit_test {

class temp_dir {
 public:
  explicit temp_dir(const char* prefix = "pipekit-test") {
#ifdef _WIN32
    // No mkdtemp: a name with our pid and a serial, made only if it is new.
    static unsigned serial = 0;
    for (;;) {
      path_ = std::filesystem::temp_directory_path() /
              (std::string(prefix) + "-" + std::to_string(::GetCurrentProcessId()) + "-" + std::to_string(serial++));
      if (::CreateDirectoryW(path_.c_str(), nullptr)) break;
      if (::GetLastError() != ERROR_ALREADY_EXISTS)
        throw std::system_error(static_cast<int>(::GetLastError()), std::system_category(), "CreateDirectoryW");
    }
#else
    std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::system_category(), "mkdtemp");
    path_ = tmpl;
#endif
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
