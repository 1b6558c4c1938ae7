#include "common/numbers.hpp"

#include <fmt/core.h>

#include <charconv>
#include <cmath>
#include <system_error>

namespace pipekit::cli {

namespace {

constexpr const char* duration_examples = "a duration such as 1.5, 500ms, 2s, 1m, 1h or 1d";

// Digits only: no sign, no spaces, no "0x" (from_chars alone would take a
// leading '-' for a signed type and stop quietly at the first non-digit).
bool all_digits(std::string_view t) {
  return !t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

parsed<seconds_d> parse_duration(std::string_view text) {
  std::string_view number = text;
  double unit = 1;
  if (number.ends_with("ms")) {
    unit = 1e-3;
    number.remove_suffix(2);
  } else if (!number.empty()) {
    switch (number.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: unit = 0;
    }
    if (unit != 0) number.remove_suffix(1);
    else unit = 1;
  }
  // A number starts with a digit or '.', or is signed: this also keeps
  // from_chars from reading "inf" and "nan" without a word about them.
  double v = 0;
  const char* end = number.data() + number.size();
  const auto [stop, err] = std::from_chars(number.data(), end, v);
  if (number.empty() || stop != end) return fmt::format("expected {}, got '{}'", duration_examples, text);
  if (err == std::errc::result_out_of_range) return fmt::format("'{}' is out of range", text);
  if (err != std::errc{}) return fmt::format("expected {}, got '{}'", duration_examples, text);
  if (std::isnan(v)) return fmt::format("'{}' is not a number: expected {}", text, duration_examples);
  if (std::isinf(v)) return fmt::format("'{}' is infinite: expected a finite duration, such as 1h", text);
  if (v < 0) return fmt::format("a duration cannot be negative, got '{}'", text);
  const double seconds = v * unit;
  if (!std::isfinite(seconds)) return fmt::format("'{}' is out of range", text);
  return seconds_d(seconds);
}

parsed<std::uint64_t> parse_count(std::string_view text, std::uint64_t min, std::uint64_t max) {
  const auto expected = [&] {
    return max == UINT64_MAX ? fmt::format("expected a whole number of at least {}, got '{}'", min, text)
                             : fmt::format("expected a whole number from {} to {}, got '{}'", min, max, text);
  };
  if (!all_digits(text)) return expected();
  std::uint64_t v = 0;
  const auto [stop, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err == std::errc::result_out_of_range) return fmt::format("'{}' is out of range (at most {})", text, max);
  if (err != std::errc{} || stop != text.data() + text.size()) return expected();
  if (v > max) return fmt::format("'{}' is out of range (at most {})", text, max);
  if (v < min) return expected();
  return v;
}

parsed<std::uint64_t> parse_size(std::string_view text, std::uint64_t max) {
  const auto expected = [&] {
    return fmt::format("expected a size in bytes such as 4096, 64K, 16M or 1G, got '{}'", text);
  };
  std::string_view digits = text;
  std::uint64_t unit = 1;
  for (const auto& [suffix, u] : {std::pair<std::string_view, std::uint64_t>{"KiB", 1u << 10},
                                  {"MiB", 1u << 20},
                                  {"GiB", 1u << 30},
                                  {"K", 1u << 10},
                                  {"M", 1u << 20},
                                  {"G", 1u << 30}}) {
    if (digits.ends_with(suffix)) {
      digits.remove_suffix(suffix.size());
      unit = u;
      break;
    }
  }
  if (!all_digits(digits)) return expected();
  std::uint64_t v = 0;
  const auto [stop, err] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (err != std::errc{} || stop != digits.data() + digits.size() || v > max / unit)
    return fmt::format("'{}' is out of range (at most {} bytes)", text, max);
  return v * unit;
}

std::string describe_seconds(seconds_d s) { return fmt::format("{} s", s.count()); }

std::string format_bytes(std::uint64_t bytes) {
  constexpr std::uint64_t kib = 1024;
  if (bytes >= kib * kib * kib && bytes % (kib * kib * kib) == 0)
    return fmt::format("{} GiB", bytes / (kib * kib * kib));
  if (bytes >= kib * kib && bytes % (kib * kib) == 0) return fmt::format("{} MiB", bytes / (kib * kib));
  if (bytes >= kib && bytes % kib == 0) return fmt::format("{} KiB", bytes / kib);
  return fmt::format("{} bytes", bytes);
}

}  // namespace pipekit::cli
