// pipekit limits [--json]: what this machine allows, from query_limits().
//
// JSON keys are the field names of pipekit::system_limits (stable, snake_case);
// null means unlimited or unknown on this system.
#include "pipekit/limits.hpp"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands/commands.hpp"
#include "common/numbers.hpp"
#include "pipekit/pipe.hpp"

namespace pipekit::cli {

namespace {

using count = std::optional<std::uint64_t>;

// Linux's pipe-user-pages-{soft,hard} use 0 for "no limit"; query_limits()
// passes the 0 through, so it is read here as unlimited.
count user_pages(count v) { return v && *v == 0 ? std::nullopt : v; }

nlohmann::ordered_json to_json(count v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr); }

nlohmann::ordered_json to_json(const system_limits& l) {
  return {
      {"pipe_default_capacity",
       l.pipe_default_capacity != 0 ? nlohmann::ordered_json(l.pipe_default_capacity) : nullptr},
      {"pipe_max_capacity", to_json(l.pipe_max_capacity)},
      {"pipe_atomic_write", l.pipe_atomic_write},
      {"pipe_user_pages_soft", to_json(user_pages(l.pipe_user_pages_soft))},
      {"pipe_user_pages_hard", to_json(user_pages(l.pipe_user_pages_hard))},
      {"descriptors_soft", to_json(l.descriptors_soft)},
      {"descriptors_hard", to_json(l.descriptors_hard)},
      {"processes_soft", to_json(l.processes_soft)},
      {"processes_hard", to_json(l.processes_hard)},
      {"pipekit_pipe_capacity", default_pipe_capacity},
  };
}

std::string bytes_text(std::uint64_t v) {
  const std::string short_form = format_bytes(v);
  return short_form.ends_with("bytes") ? short_form : fmt::format("{} bytes ({})", v, short_form);
}

void print_table(const system_limits& l) {
  auto row = [](std::string_view name, const std::string& value) { fmt::print("{:<34}{}\n", name, value); };
  // nullopt from /proc means "not known here"; from getrlimit "unlimited".
  auto bytes_or = [](count v, std::string_view none) { return v ? bytes_text(*v) : std::string(none); };
  auto number_or = [](count v, std::string_view none) { return v ? fmt::format("{}", *v) : std::string(none); };

  row("pipe capacity, default", l.pipe_default_capacity != 0 ? bytes_text(l.pipe_default_capacity) : "unknown");
  row("pipe capacity, maximum", bytes_or(l.pipe_max_capacity, "unknown"));
  row("pipe capacity, pipekit default", bytes_text(default_pipe_capacity));
  row("atomic write size (PIPE_BUF)", bytes_text(l.pipe_atomic_write));
  row("pipe pages per user, soft", number_or(user_pages(l.pipe_user_pages_soft), "unlimited"));
  row("pipe pages per user, hard", number_or(user_pages(l.pipe_user_pages_hard), "unlimited"));
  row("open descriptors, soft limit", number_or(l.descriptors_soft, "unlimited"));
  row("open descriptors, hard limit", number_or(l.descriptors_hard, "unlimited"));
  row("processes per user, soft limit", number_or(l.processes_soft, "unlimited"));
  row("processes per user, hard limit", number_or(l.processes_hard, "unlimited"));
}

}  // namespace

void setup_limits(CLI::App& sub, command_context& ctx) {
  auto json = std::make_shared<bool>(false);
  sub.add_flag("--json", *json, "Print JSON (null means unlimited or unknown)");
  sub.callback([json, &ctx] {
    const system_limits l = query_limits();
    if (*json) fmt::print("{}\n", to_json(l).dump(2));
    else print_table(l);
    ctx.status = 0;
  });
}

}  // namespace pipekit::cli
