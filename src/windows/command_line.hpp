// Turning an argv into the one command-line string CreateProcessW takes, and
// back. Pure string work (no <windows.h>), so it builds and is tested on every
// platform; the arguments are UTF-8 and the caller converts the result to
// UTF-16.
//
// Windows hands a child a single string; the child's C runtime (or
// CommandLineToArgvW) splits it again. The rules used here are the documented
// Microsoft C runtime ones ("Parsing C++ command-line arguments"):
//   - arguments are separated by spaces and tabs;
//   - "..." groups characters, spaces included, into one argument;
//   - 2n backslashes before a quote become n backslashes and the quote
//     opens or closes a quoted part; 2n+1 backslashes before a quote become
//     n backslashes and a literal quote;
//   - backslashes not followed by a quote are literal;
//   - argv[0] is special: it is a path, read up to the next space or tab, or
//     when it starts with a quote, up to the next quote, with no escapes.
// quote_windows_argument() quotes only what needs it and never emits "" inside
// a quoted part, so its output means the same to the pre-2008 msvcrt parser,
// the post-2008 one (UCRT) and CommandLineToArgvW.
//
//   std::error_code ec;
//   std::string line = windows_command_line({"C:\\tools\\prog.exe", "a b", "x\"y"}, ec);
//   // line == R"(C:\tools\prog.exe "a b" "x\"y")"
//
// Batch files: CreateProcessW runs a .bat/.cmd through cmd.exe, which re-reads
// the command line with its own rules (%VAR% and !VAR! expansion even inside
// quotes, & | < > ^ ( ) outside them, no backslash escapes, a line ends at a
// newline). No quoting makes every argument safe there (CVE-2024-24576,
// "BatBadBut"), so pipekit does not try: the spawn code refuses to run a batch
// file (is_batch_file() on the resolved path) when an argument fails
// safe_for_batch_file(), with std::errc::invalid_argument. Callers who need
// more run `cmd.exe /d /c script.bat ...` themselves and own the quoting.
//
// Thread-safety: all functions are pure and may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pipekit::detail {

// `arg` quoted for a program that splits its command line with the Microsoft
// C runtime rules: unchanged when it is non-empty and holds no space, tab,
// newline, vertical tab or double quote; otherwise in double quotes, with
// every quote escaped as \" and the backslashes before a quote (and before
// the closing quote) doubled.
// Errors: errc::invalid_argument when `arg` contains a NUL byte (it would end
// the command line early); the result is then empty.
[[nodiscard]] std::string quote_windows_argument(std::string_view arg, std::error_code& ec);
// The same; throws std::system_error instead.
[[nodiscard]] std::string quote_windows_argument(std::string_view arg);

// The whole command line: argv[0] (the program as the child sees it, quoted
// with the argv[0] rule: in quotes when empty or holding a space or tab) and
// every further argument quoted by quote_windows_argument(), joined by spaces.
// Errors: errc::invalid_argument when argv is empty, any argument contains a
// NUL byte, or argv[0] contains a double quote (the argv[0] rule cannot
// express one); the result is then empty. The caller checks the length limit
// of CreateProcessW (32,767 UTF-16 units, terminator included) after the
// conversion to UTF-16.
[[nodiscard]] std::string windows_command_line(const std::vector<std::string>& argv, std::error_code& ec);
// The same; throws std::system_error instead.
[[nodiscard]] std::string windows_command_line(const std::vector<std::string>& argv);

// Splits a command line the way the post-2008 Microsoft C runtime (UCRT)
// does, argv[0] rule included: the inverse of windows_command_line(). Inside a
// quoted part, "" is a literal quote and the part goes on. Used by the tests
// to check round trips on any platform; the child's runtime does the real
// parsing.
[[nodiscard]] std::vector<std::string> parse_windows_command_line(std::string_view command_line);

// True when `arg` reaches a batch file unchanged and cannot change what
// cmd.exe does: it holds only ASCII letters and digits, bytes of non-ASCII
// UTF-8 characters, spaces and the characters  # $ ' + - . / : @ [ \ ] _ ` { } ~
// and it does not end in a backslash when it has to be quoted (cmd.exe would
// keep the doubled backslash). Everything else is refused, in particular
//   % !          variable expansion, even inside quotes
//   " ^          quoting and escaping (cmd.exe knows no \")
//   & | < > ( )  command separators, redirection, blocks
//   , ; = tab    argument separators of a batch file's %1 %2 ...
//   * ?          wildcards of for/if/copy inside scripts
//   control characters, NUL, CR and LF (a newline ends the command).
// An empty argument is allowed (the script sees "").
[[nodiscard]] bool safe_for_batch_file(std::string_view arg) noexcept;

// True when `program` names a file CreateProcessW runs through cmd.exe: its
// extension is .bat or .cmd in any case, after the trailing dots and spaces
// Windows ignores in file names ("x.bat. ." runs x.bat). Call it on the path
// the program resolved to (PATH and PATHEXT lookup can turn "x" into x.cmd).
[[nodiscard]] bool is_batch_file(std::string_view program) noexcept;

}  // namespace pipekit::detail
