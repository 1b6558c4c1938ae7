// Quoting argv into a Windows command line and parsing it back. Pure string
// functions, so this suite runs natively on Linux as well as on Windows; the
// real round trip through CreateProcessW and a child's C runtime is in
// test_process.cpp (arguments_round_trip_through_the_childs_c_runtime).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "windows/command_line.hpp"

namespace {

using pipekit::detail::is_batch_file;
using pipekit::detail::parse_windows_command_line;
using pipekit::detail::quote_windows_argument;
using pipekit::detail::safe_for_batch_file;
using pipekit::detail::windows_command_line;

using argv_t = std::vector<std::string>;

// Arguments that broke real quoting code at one time or another.
const argv_t tricky = {
    "plain",
    "a b",
    " leading",
    "trailing ",
    "  ",
    "",
    "\t",
    "tab\tinside",
    "new\nline",
    "vertical\vtab",
    R"(")",
    R"("")",
    R"(a"b)",
    R"("quoted")",
    R"(\)",
    R"(\\)",
    R"(a\)",
    R"(a\\)",
    R"(a b\)",
    R"(a b\\)",
    R"(C:\Program Files\)",
    R"(C:\path\)",
    R"(\\server\share\dir with space\)",
    R"(\")",
    R"(\\")",
    R"(a\"b)",
    R"(a\\"b)",
    R"(a\\\"b)",
    R"("\\)",
    R"(\a\b\)",
    R"(x"" y)",
    R"(" ")",
    "ünïcødé ✓",
    "日本語",
    R"(emoji 😀 and "quotes")",
    "%PATH%",
    "!x!",
    "^&|<>()",
    "'single'",
    "*?",
    "--opt=a b",
    "a=b,c;d",
};

TEST(command_line, well_known_quotings) {
  EXPECT_EQ(quote_windows_argument(""), R"("")");
  EXPECT_EQ(quote_windows_argument("abc"), "abc");
  EXPECT_EQ(quote_windows_argument("a b"), R"("a b")");
  EXPECT_EQ(quote_windows_argument("a\tb"), "\"a\tb\"");
  EXPECT_EQ(quote_windows_argument("a\nb"), "\"a\nb\"");
  EXPECT_EQ(quote_windows_argument(R"(a"b)"), R"("a\"b")");
  EXPECT_EQ(quote_windows_argument(R"(")"), R"("\"")");
  // Backslashes stay single unless a quote follows them.
  EXPECT_EQ(quote_windows_argument(R"(\)"), R"(\)");
  EXPECT_EQ(quote_windows_argument(R"(C:\path\)"), R"(C:\path\)");
  EXPECT_EQ(quote_windows_argument(R"(C:\a b\c)"), R"("C:\a b\c")");
  // ... a quote in the argument: 2n+1, the closing quote: 2n.
  EXPECT_EQ(quote_windows_argument(R"(C:\Program Files\)"), R"("C:\Program Files\\")");
  EXPECT_EQ(quote_windows_argument(R"(a\\"b)"), R"("a\\\\\"b")");
  EXPECT_EQ(quote_windows_argument(R"(\")"), R"("\\\"")");
  EXPECT_EQ(quote_windows_argument(R"(Hello"Good)"), R"("Hello\"Good")");
  // Characters cmd.exe cares about mean nothing to the C runtime.
  EXPECT_EQ(quote_windows_argument("%PATH%&x"), "%PATH%&x");
  EXPECT_EQ(quote_windows_argument("日本語"), "日本語");
}

TEST(command_line, whole_command_line_quotes_the_program_by_the_argv0_rule) {
  EXPECT_EQ(windows_command_line({R"(C:\tools\prog.exe)", "a b", R"(x"y)"}), R"(C:\tools\prog.exe "a b" "x\"y")");
  EXPECT_EQ(windows_command_line({"prog"}), "prog");
  EXPECT_EQ(windows_command_line({"prog", ""}), R"(prog "")");
  EXPECT_EQ(windows_command_line({"prog", "", ""}), R"(prog "" "")");
  // argv[0] knows no escapes: a trailing backslash stays single.
  EXPECT_EQ(windows_command_line({R"(C:\Program Files\app\)", "x"}), R"("C:\Program Files\app\" x)");
  EXPECT_EQ(windows_command_line({""}), R"("")");
}

TEST(command_line, tricky_arguments_survive_quote_then_parse) {
  for (const auto& arg : tricky) {
    SCOPED_TRACE("argument [" + arg + "]");
    const std::string line = "prog " + quote_windows_argument(arg);
    const argv_t back = parse_windows_command_line(line);
    ASSERT_EQ(back.size(), 2u) << line;
    EXPECT_EQ(back[1], arg) << line;
  }
}

TEST(command_line, all_tricky_arguments_at_once_survive_a_round_trip) {
  argv_t argv = {R"(C:\Program Files\pipekit child\child.exe)"};
  argv.insert(argv.end(), tricky.begin(), tricky.end());
  EXPECT_EQ(parse_windows_command_line(windows_command_line(argv)), argv);
  // And in reverse order, so every argument has other neighbours.
  argv_t reversed(argv.rbegin(), argv.rend() - 1);
  reversed.insert(reversed.begin(), "child.exe");
  EXPECT_EQ(parse_windows_command_line(windows_command_line(reversed)), reversed);
}

TEST(command_line, program_names_survive_a_round_trip) {
  for (const std::string program :
       {"prog", "prog.exe", R"(C:\tools\prog.exe)", R"(C:\Program Files\x\prog.exe)", R"(C:\dir with space\)",
        R"(\\server\share\p.exe)", "ünï cødé.exe", "tab\there.exe", ""}) {
    SCOPED_TRACE("program [" + program + "]");
    const argv_t argv = {program, "arg"};
    EXPECT_EQ(parse_windows_command_line(windows_command_line(argv)), argv);
  }
}

TEST(command_line, random_arguments_survive_a_round_trip) {
  // Arguments drawn from the characters that matter to the rules, plus a
  // multi-byte UTF-8 character, so runs of backslashes meet quotes, blanks and
  // the ends of arguments in every combination.
  const std::vector<std::string> pieces = {"a", " ", "\t", "\"", "\\", "\\", "ü", "\n", "x"};
  std::mt19937 rng(20240409);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(0, 8);
  std::uniform_int_distribution<int> count(0, 5);
  for (int round = 0; round < 20000; ++round) {
    argv_t argv = {"p"};
    const int args = count(rng);
    for (int i = 0; i < args; ++i) {
      std::string a;
      const int len = length(rng);
      for (int k = 0; k < len; ++k) a += pieces[pick(rng)];
      argv.push_back(std::move(a));
    }
    const std::string line = windows_command_line(argv);
    ASSERT_EQ(parse_windows_command_line(line), argv) << "command line [" << line << "]";
  }
}

TEST(command_line, parser_follows_the_documented_examples) {
  // The table of Microsoft's "Parsing C++ command-line arguments".
  EXPECT_EQ(parse_windows_command_line(R"(p "a b c" d e)"), (argv_t{"p", "a b c", "d", "e"}));
  EXPECT_EQ(parse_windows_command_line(R"(p "ab\"c" "\\" d)"), (argv_t{"p", R"(ab"c)", R"(\)", "d"}));
  EXPECT_EQ(parse_windows_command_line(R"(p a\\\b d"e f"g h)"), (argv_t{"p", R"(a\\\b)", "de fg", "h"}));
  EXPECT_EQ(parse_windows_command_line(R"(p a\\\"b c d)"), (argv_t{"p", R"(a\"b)", "c", "d"}));
  EXPECT_EQ(parse_windows_command_line(R"(p a\\\\"b c" d e)"), (argv_t{"p", R"(a\\b c)", "d", "e"}));
  // "" inside a quoted part: the UCRT (post-2008) rule keeps quoting, while
  // CommandLineToArgvW and the pre-2008 msvcrt end it (giving ab" c d as
  // three arguments). quote_windows_argument never writes "" inside quotes,
  // so its output means the same to all of them.
  EXPECT_EQ(parse_windows_command_line(R"(p a"b"" c d)"), (argv_t{"p", R"(ab" c d)"}));
  // Blanks: runs of spaces and tabs separate, leading and trailing ones vanish.
  EXPECT_EQ(parse_windows_command_line("p  \t a \t b \t "), (argv_t{"p", "a", "b"}));
  EXPECT_EQ(parse_windows_command_line(R"(p "" "")"), (argv_t{"p", "", ""}));
  // An unterminated quote runs to the end.
  EXPECT_EQ(parse_windows_command_line(R"(p "a b)"), (argv_t{"p", "a b"}));
  // argv[0]: quotes toggle, backslashes are plain.
  EXPECT_EQ(parse_windows_command_line(R"("C:\a b\" x)"), (argv_t{R"(C:\a b\)", "x"}));
  EXPECT_EQ(parse_windows_command_line(R"(C:\a\b.exe x)"), (argv_t{R"(C:\a\b.exe)", "x"}));
}

TEST(command_line, nul_bytes_and_impossible_program_names_are_rejected) {
  const std::string with_nul("a\0b", 3);
  std::error_code ec;
  EXPECT_EQ(quote_windows_argument(with_nul, ec), "");
  EXPECT_TRUE(ec == std::errc::invalid_argument) << ec.message();
  EXPECT_THROW((void)quote_windows_argument(with_nul), std::system_error);

  EXPECT_EQ(windows_command_line({"prog", "ok", with_nul}, ec), "");
  EXPECT_TRUE(ec == std::errc::invalid_argument);
  EXPECT_THROW((void)windows_command_line({"prog", with_nul}), std::system_error);
  (void)windows_command_line({with_nul}, ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument);
  (void)windows_command_line({"prog", std::string(1, '\0')}, ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument);

  // argv[0] cannot carry a quote (nor can a Windows file name).
  (void)windows_command_line({R"(a"b.exe)", "x"}, ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument);
  (void)windows_command_line({}, ec);
  EXPECT_TRUE(ec == std::errc::invalid_argument);

  // Success clears an earlier error.
  EXPECT_EQ(windows_command_line({"prog", "x"}, ec), "prog x");
  EXPECT_FALSE(ec);
  EXPECT_EQ(quote_windows_argument("y", ec), "y");
  EXPECT_FALSE(ec);
}

TEST(command_line, batch_file_arguments_without_cmd_metacharacters_are_safe) {
  for (const std::string arg : {"hello", "", "a b", R"(C:\dir\file.txt)", "--flag", "-x", "ünïcødé ✓", "日本語",
                                "v1.2.3", "user@host:/path", "[x]{y}~_$#'`+", R"(\\server\share)"}) {
    EXPECT_TRUE(safe_for_batch_file(arg)) << "[" << arg << "]";
  }
}

TEST(command_line, batch_file_arguments_with_cmd_metacharacters_are_refused) {
  for (const std::string& arg : argv_t{"%PATH%",
                                       "100%",
                                       "!x!",
                                       "a&calc",
                                       "a|b",
                                       "<in",
                                       ">out",
                                       "^",
                                       "(",
                                       ")",
                                       "\"",
                                       R"(\"&calc.exe)",
                                       "a,b",
                                       "a;b",
                                       "a=b",
                                       "\t",
                                       "a\rb",
                                       "a\nb",
                                       "*",
                                       "?",
                                       std::string(1, '\0'),
                                       std::string("a\0b", 3),
                                       "\x1b[0m",
                                       "del\x7f",
                                       R"(a b\)",
                                       R"(C:\Program Files\)"}) {
    EXPECT_FALSE(safe_for_batch_file(arg)) << "[" << arg << "]";
  }
  // A trailing backslash is fine while no quoting is needed.
  EXPECT_TRUE(safe_for_batch_file(R"(C:\dir\)"));
}

TEST(command_line, batch_files_are_recognised_by_extension_in_any_case) {
  for (const std::string p :
       {"x.bat", "X.BAT", "run.Cmd", R"(C:\a b\run.cmd)", "x.bat.", "x.bat . .", "x.cmd  ", "x.bat...", ".bat"}) {
    EXPECT_TRUE(is_batch_file(p)) << "[" << p << "]";
  }
  for (const std::string p : {"x.exe", "bat", "cmd", "x.batch", "x.bat.exe", "xbat", "", "...", R"(C:\bat\x.com)"}) {
    EXPECT_FALSE(is_batch_file(p)) << "[" << p << "]";
  }
}

}  // namespace
