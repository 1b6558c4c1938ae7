// Internal: the state of a POSIX local server (a listening Unix socket and
// the file it created), shared by src/posix/local_posix.cpp and the
// portable members in src/local.cpp.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "pipekit/local.hpp"

namespace pipekit {

struct local_server::impl {
  handle fd;
  local_mode mode = local_mode::bytes;
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;

  ~impl() {
    // Remove the socket file only if it is still ours: another server may
    // have replaced a stale one, or the user may have put something else there.
    struct stat st {};
    if (!path.empty() && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev &&
        st.st_ino == ino)
      ::unlink(path.c_str());
  }

  // What a poller waits on for the next client (local_server::native_handle()).
  [[nodiscard]] native_handle_type wait_handle() const noexcept { return fd.native_handle(); }
};

}  // namespace pipekit
