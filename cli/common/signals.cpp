#include "common/signals.hpp"

#include <fmt/core.h>

#include <array>
#include <csignal>
#include <string>
#include <utility>

namespace pipekit::cli {

namespace {

struct named_signal {
  const char* name;
  int number;
};

#if defined(_WIN32)
// What the library can send on Windows (TerminateJobObject either way).
constexpr std::array signals{named_signal{"TERM", signal_term}, named_signal{"KILL", signal_kill}};
#else
constexpr std::array signals{
    named_signal{"HUP", SIGHUP},     named_signal{"INT", SIGINT},       named_signal{"QUIT", SIGQUIT},
    named_signal{"ILL", SIGILL},     named_signal{"TRAP", SIGTRAP},     named_signal{"ABRT", SIGABRT},
    named_signal{"IOT", SIGABRT},    named_signal{"BUS", SIGBUS},       named_signal{"FPE", SIGFPE},
    named_signal{"KILL", SIGKILL},   named_signal{"USR1", SIGUSR1},     named_signal{"SEGV", SIGSEGV},
    named_signal{"USR2", SIGUSR2},   named_signal{"PIPE", SIGPIPE},     named_signal{"ALRM", SIGALRM},
    named_signal{"TERM", SIGTERM},   named_signal{"CHLD", SIGCHLD},     named_signal{"CONT", SIGCONT},
    named_signal{"STOP", SIGSTOP},   named_signal{"TSTP", SIGTSTP},     named_signal{"TTIN", SIGTTIN},
    named_signal{"TTOU", SIGTTOU},   named_signal{"URG", SIGURG},       named_signal{"XCPU", SIGXCPU},
    named_signal{"XFSZ", SIGXFSZ},   named_signal{"VTALRM", SIGVTALRM}, named_signal{"PROF", SIGPROF},
    named_signal{"WINCH", SIGWINCH}, named_signal{"IO", SIGIO},         named_signal{"SYS", SIGSYS},
};
#endif

std::string upper(std::string_view s) {
  std::string u(s);
  for (char& c : u)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return u;
}

}  // namespace

parsed<int> parse_signal(std::string_view text) {
  const auto none = [&] {
#if defined(_WIN32)
    return fmt::format(
        "'{}' is not a signal this system can send (Windows: TERM or KILL, which both end the "
        "command at once)",
        text);
#else
    return fmt::format("'{}' is not a signal (expected a name such as TERM, INT or KILL, or a number)", text);
#endif
  };
  if (!text.empty() && text.front() >= '0' && text.front() <= '9') {
    const parsed<std::uint64_t> n = parse_count(text, 1, 64);
    if (std::holds_alternative<std::string>(n)) return none();
    const int sig = static_cast<int>(std::get<std::uint64_t>(n));
#if defined(_WIN32)
    if (sig != signal_term && sig != signal_kill) return none();
#else
    if (sig >= NSIG) return none();
#endif
    return sig;
  }
  std::string name = upper(text);
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (const named_signal& s : signals)
    if (name == s.name) return s.number;
  return none();
}

std::string signal_short_name(int sig) {
  for (const named_signal& s : signals)
    if (s.number == sig) return s.name;
  return std::to_string(sig);
}

}  // namespace pipekit::cli
