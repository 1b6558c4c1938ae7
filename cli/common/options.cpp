#include "common/options.hpp"

#include <CLI/CLI.hpp>
#include <variant>

#include "common/signals.hpp"

namespace pipekit::cli {

namespace {

// One parser serves as the check (its message is what CLI11 prints after
// the option's name) and as the conversion that stores the value.
template <class T, class Parse>
CLI::Option* add_parsed(CLI::App* app, const std::string& name, std::optional<T>& target, const std::string& help,
                        const std::string& type_name, Parse parse) {
  CLI::Option* opt = app->add_option_function<std::string>(
      name, [&target, parse](const std::string& text) { target = std::get<T>(parse(text)); }, help);
  opt->type_name(type_name);
  opt->check(CLI::Validator(
      [parse](std::string& text) {
        auto r = parse(text);
        return std::holds_alternative<T>(r) ? std::string() : std::get<std::string>(r);
      },
      ""));
  return opt;
}

}  // namespace

CLI::Option* add_duration_option(CLI::App* app, const std::string& name, std::optional<seconds_d>& target,
                                 const std::string& help) {
  return add_parsed(app, name, target, help, "DURATION", [](const std::string& t) { return parse_duration(t); });
}

CLI::Option* add_count_option(CLI::App* app, const std::string& name, std::optional<std::uint64_t>& target,
                              std::uint64_t min, const std::string& help) {
  return add_parsed(app, name, target, help, "N", [min](const std::string& t) { return parse_count(t, min); });
}

CLI::Option* add_size_option(CLI::App* app, const std::string& name, std::optional<std::uint64_t>& target,
                             const std::string& help) {
  return add_parsed(app, name, target, help, "BYTES", [](const std::string& t) { return parse_size(t); });
}

CLI::Option* add_signal_option(CLI::App* app, const std::string& name, std::optional<int>& target,
                               const std::string& help) {
  return add_parsed(app, name, target, help, "SIG", [](const std::string& t) { return parse_signal(t); });
}

}  // namespace pipekit::cli
