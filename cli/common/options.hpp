// CLI11 options for the numbers of common/numbers.hpp and the signals of
// common/signals.hpp: each subcommand that takes a time, a count, a size or
// a signal adds it with one of these, so that every one refuses the same
// bad input with the same message ("--timeout: 'nan' is not a number ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/numbers.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace pipekit::cli {

// `name` is CLI11's ("--timeout", "-k,--kill-after"); `target` is set when
// the option is given and valid.
CLI::Option* add_duration_option(CLI::App* app, const std::string& name, std::optional<seconds_d>& target,
                                 const std::string& help);
CLI::Option* add_count_option(CLI::App* app, const std::string& name, std::optional<std::uint64_t>& target,
                              std::uint64_t min, const std::string& help);
CLI::Option* add_size_option(CLI::App* app, const std::string& name, std::optional<std::uint64_t>& target,
                             const std::string& help);
CLI::Option* add_signal_option(CLI::App* app, const std::string& name, std::optional<int>& target,
                               const std::string& help);

}  // namespace pipekit::cli
