#include "common/stages.hpp"

#include <stdexcept>

#include "common/errors.hpp"
#include "pipekit/shell_words.hpp"

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

}  // namespace pipekit::cli
