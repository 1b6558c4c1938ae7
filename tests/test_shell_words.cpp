// split_shell_words() against the real Python's shlex.split(): the same
// words for a broad set of quoting cases, and an error wherever shlex raises.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipekit/error.hpp"
#include "pipekit/process.hpp"
#include "pipekit/shell_words.hpp"

namespace {

const std::vector<std::string> cases = {
    "",
    "   ",
    "grep -v x",
    "  leading and   trailing  ",
    "tabs\tand\nnewlines\r\nhere",
    "'single quoted words' stay one",
    "\"double quoted\" too",
    "''",
    "\"\"",
    "a '' b \"\" c",
    "x''y",
    "pre'mid'post",
    "pre\"mid\"post",
    R"(a\ b)",
    R"(\a\b\c)",
    R"(back\\slash)",
    R"("esc \" quote")",
    R"("esc \\ backslash")",
    R"("keep \n \t \$ \` as is")",
    R"('no \escape in single')",
    R"('it'\''s')",
    R"("it's")",
    R"('say "hi"')",
    R"(\"bare quote)",
    R"(\'bare)",
    "#not a comment",
    "a#b # c",
    "pipes | and > redirects ; stay words",
    "$HOME ${X} $(cmd) `cmd` *.txt ~ stay",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac '\xf0\x9f\x98\x80 emoji'",
    "\"\xc3\xa9\\\"\xc3\xa9\"",
    R"(trailing\ )",
    R"(a"b"'c'd\ e)",
    R"(-e 's/a b/c d/g' "file name.txt")",
    "x\\\ny",
    R"("a\\")",
    R"(a\\\"b)",
};

const std::vector<std::string> bad_cases = {
    "'unclosed", "\"unclosed", "ends with \\", "mixed 'a\"", "\"a\\\"", "ok 'x' \"y", R"("\")",
};

// shlex.split() of each case, as JSON: a list of words, or null where it raised.
std::vector<nlohmann::json> python_answers(const std::vector<std::string>& inputs) {
  const std::string program =
      "import json, shlex, sys\n"
      "out = []\n"
      "for s in json.loads(sys.stdin.buffer.read().decode('utf-8', 'surrogateescape')):\n"
      "    try: out.append(shlex.split(s))\n"
      "    except ValueError: out.append(None)\n"
      "sys.stdout.write(json.dumps(out))\n";
  pipekit::command c{"python3", "-c", program};
  c.set_stdin(pipekit::stdio::pipe()).set_stdout(pipekit::stdio::pipe());
  pipekit::process p = c.spawn();
  const auto r = p.communicate(nlohmann::json(inputs).dump(), pipekit::after(std::chrono::seconds(30)));
  EXPECT_TRUE(p.wait().success());
  return nlohmann::json::parse(r.out).get<std::vector<nlohmann::json>>();
}

TEST(shell_words, equal_python_shlex_split_on_every_case) {
  const auto answers = python_answers(cases);
  ASSERT_EQ(answers.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    ASSERT_FALSE(answers[i].is_null()) << "shlex refused case " << i << ": " << cases[i];
    EXPECT_EQ(pipekit::split_shell_words(cases[i]), answers[i].get<std::vector<std::string>>())
        << "case " << i << ": " << cases[i];
  }
}

TEST(shell_words, refuse_what_python_shlex_refuses) {
  const auto answers = python_answers(bad_cases);
  ASSERT_EQ(answers.size(), bad_cases.size());
  for (std::size_t i = 0; i < bad_cases.size(); ++i) {
    EXPECT_TRUE(answers[i].is_null()) << "shlex took bad case " << i << ": " << bad_cases[i];
    EXPECT_THROW((void)pipekit::split_shell_words(bad_cases[i]), std::invalid_argument) << bad_cases[i];
    std::error_code ec;
    EXPECT_TRUE(pipekit::split_shell_words(bad_cases[i], ec).empty());
    EXPECT_EQ(ec, pipekit::errc::invalid_argument) << bad_cases[i];
  }
}

TEST(shell_words, the_error_says_what_and_where) {
  try {
    (void)pipekit::split_shell_words("grep \"abc");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unclosed double quote at offset 5");
  }
}

}  // namespace
