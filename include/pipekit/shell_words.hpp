// split_shell_words: one command line split into words by the POSIX shell's
// quoting rules, without a shell — what `pipekit pipe 'grep -c "a b"'` does
// with each stage, and what Python's shlex.split() returns for the same text.
//
//   split_shell_words(R"(grep -e 'a b' "x\"y" c\ d)")   // {"grep", "-e", "a b", "x\"y", "c d"}
//
// The rules: words are separated by spaces, tabs, carriage returns and
// newlines; '...' keeps everything literally; "..." keeps everything but a
// backslash before `"` or `\`, which escapes it (any other backslash stays);
// outside quotes a backslash escapes the next character, whatever it is;
// quoted parts join the word around them, and '' or "" alone is an empty
// word. Nothing is expanded: no globbing, no variables, no `#` comments, no
// operators (`|`, `>` and `;` are ordinary characters). Bytes that are not
// ASCII pass through unchanged (UTF-8 text stays UTF-8).
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pipekit/export.hpp"

namespace pipekit {

// Throws std::invalid_argument naming the problem and where it starts
// ("unclosed double quote at offset 7", "backslash at the end") when the
// text ends inside quotes or right after an escaping backslash.
[[nodiscard]] PIPEKIT_EXPORT std::vector<std::string> split_shell_words(std::string_view text);
// The same with errc::invalid_argument for those cases (and an empty result).
[[nodiscard]] PIPEKIT_EXPORT std::vector<std::string> split_shell_words(std::string_view text,
                                                                        std::error_code& ec) noexcept;

}  // namespace pipekit
