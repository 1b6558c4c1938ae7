#include "pipekit/shell_words.hpp"

#include <new>
#include <stdexcept>

#include "pipekit/error.hpp"

namespace pipekit {

namespace {

bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Splits `text`; on malformed input returns false and says why in `problem`.
bool split(std::string_view text, std::vector<std::string>& words, std::string& problem) {
  std::string word;
  bool in_word = false;  // a word has started, even if it is empty so far ('')
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (i + 1 == text.size()) {
        problem = "backslash at the end";
        return false;
      }
      word += text[i + 1];
      i += 2;
    } else if (c == '\'') {
      const std::size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        problem = "unclosed single quote at offset " + std::to_string(i);
        return false;
      }
      word.append(text.substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (c == '"') {
      const std::size_t open = i++;
      for (;;) {
        if (i == text.size()) {
          problem = "unclosed double quote at offset " + std::to_string(open);
          return false;
        }
        const char q = text[i];
        if (q == '"') {
          ++i;
          break;
        }
        // Inside double quotes a backslash escapes only `"` and itself.
        if (q == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          word += text[i + 1];
          i += 2;
        } else {
          word += q;
          ++i;
        }
      }
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return true;
}

}  // namespace

std::vector<std::string> split_shell_words(std::string_view text) {
  std::vector<std::string> words;
  std::string problem;
  if (!split(text, words, problem)) throw std::invalid_argument(problem);
  return words;
}

std::vector<std::string> split_shell_words(std::string_view text, std::error_code& ec) noexcept {
  ec.clear();
  try {
    std::vector<std::string> words;
    std::string problem;
    if (split(text, words, problem)) return words;
    ec = make_error_code(errc::invalid_argument);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return {};
}

}  // namespace pipekit
