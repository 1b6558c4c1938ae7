// The fixture of test_local*.cpp: a server name of each test's own, a socket
// path in a fresh private directory on POSIX (removed afterwards), a pipe
// name no other test uses on Windows.
#pragma once

#include <gtest/gtest.h>

#ifndef _WIN32
#include <stdlib.h>
#endif

#include <filesystem>
#include <string>
#include <system_error>

#include "helpers/test_support.hpp"
#include "pipekit/local.hpp"

namespace pipekit_test {

class local : public ::testing::Test {
 protected:
#ifdef _WIN32
  std::string path(const char* name = "s.sock") const { return prefix_ + "-" + name; }
  std::string prefix_ = unique_name("pipekit-test-local");
#else
  void SetUp() override {
    std::string t = (std::filesystem::temp_directory_path() / "pipekit-local-XXXXXX").string();
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const char* name = "s.sock") const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
#endif
};

inline pipekit::listen_options messages() {
  pipekit::listen_options o;
  o.mode = pipekit::local_mode::messages;
  return o;
}

}  // namespace pipekit_test
