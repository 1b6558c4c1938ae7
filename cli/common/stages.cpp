#include "common/stages.hpp"

#include <cstdio>
#include <stdexcept>

#include "common/errors.hpp"
#include "common/platform.hpp"
#include "pipekit/handle.hpp"
#include "pipekit/shell_words.hpp"
#include "pipekit/terminal.hpp"

namespace pipekit::cli {

std::optional<std::vector<command>> parse_stages(const std::vector<std::string>& stages) {
  std::vector<command> commands;
  for (const std::string& text : stages) {
    std::vector<std::string> words;
    try {
      words = split_shell_words(text);
    } catch (const std::invalid_argument& e) {
      print_error("stage '{}': {}", text, e.what());
      return std::nullopt;
    }
    if (words.empty()) {
      print_error("stage {} is empty", commands.size() + 1);
      return std::nullopt;
    }
    commands.push_back(command{std::move(words)}.group(process_group::inherit));
  }
  return commands;
}

std::string start_problem(const stage_result& s) {
  if (s.start_failure.stage == spawn_stage::exec && s.start_error == std::errc::no_such_file_or_directory)
    return "command not found";
  std::string text = s.start_error.message();
  if (!s.start_failure.detail.empty()) text = s.start_failure.detail + ": " + text;
  return text;
}

std::optional<handle_stream> standard_stream(native_handle_type h, const char* name) {
  handle borrowed(h);
  std::error_code ec;
  handle copy = borrowed.duplicate(ec);
  (void)borrowed.release();
  if (ec) {
    print_error("cannot use {}: {}", name, ec.message());
    return std::nullopt;
  }
  return handle_stream(std::move(copy));
}

std::unique_ptr<live_line> live_line_on_stderr(std::vector<std::string> names, bool quiet) {
  const native_handle_type err = standard_error_handle();
  if (quiet || !is_terminal(err)) return nullptr;
  std::error_code ec;
  const terminal_size size = window_size(err, ec);
  return std::make_unique<live_line>(std::move(names), ec ? 80 : size.columns, [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  });
}

}  // namespace pipekit::cli
