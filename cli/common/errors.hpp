// How pipekit's messages look on stderr: "pipekit: <what>", one line each,
// whichever subcommand says it.
//
//   print_error("cannot send {} {}: {}", noun, n, ec.message());
//   -> pipekit: cannot send line 3: Broken pipe
#pragma once

#include <fmt/core.h>

#include <cstdio>
#include <string_view>
#include <utility>

namespace pipekit::cli {

// "pipekit: " + what + "\n" on stderr.
void print_error_line(std::string_view what);

template <class... Args>
void print_error(fmt::format_string<Args...> f, Args&&... args) {
  print_error_line(fmt::format(f, std::forward<Args>(args)...));
}

// A usage error: the message, then how to get help ("Try 'pipekit run
// --help' for more information."), for the command line `path`.
void print_usage_error(std::string_view what, std::string_view path);

}  // namespace pipekit::cli
