#include "windows/command_line.hpp"

#include "pipekit/error.hpp"

namespace pipekit::detail {

namespace {

bool needs_quotes(std::string_view arg) noexcept {
  // \n and \v are not separators for the C runtime, but they are for some
  // other parsers; quoting them costs nothing.
  return arg.empty() || arg.find_first_of(" \t\n\v\"") != std::string_view::npos;
}

void append_quoted(std::string& out, std::string_view arg) {
  if (!needs_quotes(arg)) {
    out += arg;
    return;
  }
  out += '"';
  std::size_t backslashes = 0;
  for (const char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '"') {
      // 2n+1 backslashes: n literal ones and an escaped quote.
      out.append(2 * backslashes + 1, '\\');
    } else {
      // Backslashes not followed by a quote are literal.
      out.append(backslashes, '\\');
    }
    backslashes = 0;
    out += c;
  }
  // The closing quote follows: the run before it must be doubled so that it
  // does not escape that quote.
  out.append(2 * backslashes, '\\');
  out += '"';
}

void append_program(std::string& out, std::string_view program) {
  // argv[0] is read up to the next unquoted space or tab; quotes only toggle
  // quoting and backslashes are plain characters, so quoting is all it needs.
  if (program.empty() || program.find_first_of(" \t") != std::string_view::npos) {
    out += '"';
    out += program;
    out += '"';
  } else {
    out += program;
  }
}

bool blank(char c) noexcept { return c == ' ' || c == '\t'; }

bool ascii_iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::string quote_windows_argument(std::string_view arg, std::error_code& ec) {
  ec.clear();
  if (arg.find('\0') != std::string_view::npos) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  std::string out;
  append_quoted(out, arg);
  return out;
}

std::string quote_windows_argument(std::string_view arg) {
  std::error_code ec;
  std::string s = quote_windows_argument(arg, ec);
  throw_if(ec, "quote_windows_argument: the argument contains a NUL byte");
  return s;
}

std::string windows_command_line(const std::vector<std::string>& argv, std::error_code& ec) {
  ec.clear();
  if (argv.empty() || argv.front().find('"') != std::string::npos) {
    ec = make_error_code(errc::invalid_argument);
    return {};
  }
  std::string out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.find('\0') != std::string::npos) {
      ec = make_error_code(errc::invalid_argument);
      return {};
    }
    if (i == 0) {
      append_program(out, a);
    } else {
      out += ' ';
      append_quoted(out, a);
    }
  }
  return out;
}

std::string windows_command_line(const std::vector<std::string>& argv) {
  std::error_code ec;
  std::string s = windows_command_line(argv, ec);
  throw_if(ec, "windows_command_line: empty argv, a NUL byte in an argument, or a quote in the program name");
  return s;
}

std::vector<std::string> parse_windows_command_line(std::string_view line) {
  std::vector<std::string> argv;
  std::size_t i = 0;
  const std::size_t n = line.size();

  // argv[0]: quotes toggle, nothing is escaped.
  {
    std::string program;
    bool in_quotes = false;
    while (i < n && (in_quotes || !blank(line[i]))) {
      if (line[i] == '"') in_quotes = !in_quotes;
      else program += line[i];
      ++i;
    }
    argv.push_back(std::move(program));
  }

  for (;;) {
    while (i < n && blank(line[i])) ++i;
    if (i >= n) break;
    std::string arg;
    bool in_quotes = false;
    for (;;) {
      std::size_t backslashes = 0;
      while (i < n && line[i] == '\\') {
        ++backslashes;
        ++i;
      }
      bool copy = true;
      if (i < n && line[i] == '"') {
        if (backslashes % 2 == 0) {
          if (in_quotes && i + 1 < n && line[i + 1] == '"') {
            ++i;  // "" inside quotes: a literal quote, still quoted (post-2008 rule)
          } else {
            copy = false;
            in_quotes = !in_quotes;
          }
        }
        backslashes /= 2;
      }
      arg.append(backslashes, '\\');
      if (i >= n || (!in_quotes && blank(line[i]))) break;
      if (copy) arg += line[i];
      ++i;
    }
    argv.push_back(std::move(arg));
  }
  return argv;
}

bool safe_for_batch_file(std::string_view arg) noexcept {
  for (const char ch : arg) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) continue;  // part of a non-ASCII UTF-8 character: plain text to cmd.exe
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    switch (c) {
      case ' ':
      case '#':
      case '$':
      case '\'':
      case '+':
      case '-':
      case '.':
      case '/':
      case ':':
      case '@':
      case '[':
      case '\\':
      case ']':
      case '_':
      case '`':
      case '{':
      case '}':
      case '~': continue;
      default: return false;
    }
  }
  // Quoted, a trailing backslash run is doubled for the C runtime; cmd.exe
  // does not undo that, so the script would see a different argument.
  if (needs_quotes(arg) && !arg.empty() && arg.back() == '\\') return false;
  return true;
}

bool is_batch_file(std::string_view program) noexcept {
  // Windows drops trailing dots and spaces from a file name, so "x.bat ."
  // runs x.bat (the bypass of several BatBadBut fixes).
  while (!program.empty() && (program.back() == '.' || program.back() == ' ')) program.remove_suffix(1);
  if (program.size() < 4) return false;
  const std::string_view ext = program.substr(program.size() - 4);
  return ascii_iequal(ext, ".bat") || ascii_iequal(ext, ".cmd");
}

}  // namespace pipekit::detail
