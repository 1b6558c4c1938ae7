#include "common/errors.hpp"

namespace pipekit::cli {

void print_error_line(std::string_view what) { fmt::print(stderr, "pipekit: {}\n", what); }

void print_usage_error(std::string_view what, std::string_view path) {
  fmt::print(stderr, "pipekit: {}\nTry '{} --help' for more information.\n", what, path);
}

}  // namespace pipekit::cli
