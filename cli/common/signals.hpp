// Signal names on pipekit's command line, as timeout(1) and kill(1) take
// them: a name with or without "SIG", in any case ("TERM", "SIGINT",
// "hup"), or a number ("9"). On Windows only TERM (15) and KILL (9) exist:
// both end the command's job at once.
#pragma once

#include <string>
#include <string_view>

#include "common/numbers.hpp"

namespace pipekit::cli {

inline constexpr int signal_term = 15;  // SIGTERM and SIGKILL have these numbers everywhere
inline constexpr int signal_kill = 9;

// The signal number, or why the text names none.
[[nodiscard]] parsed<int> parse_signal(std::string_view text);

// "TERM", "KILL", "INT"; the number itself for a signal without a name.
[[nodiscard]] std::string signal_short_name(int sig);

}  // namespace pipekit::cli
