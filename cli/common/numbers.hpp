// Numbers on pipekit's command line: durations, counts and byte sizes, each
// parsed one way for every subcommand, refusing what would not mean what the
// user typed (NaN, infinity, negatives, garbage, values out of range) with a
// message that says what was expected.
//
//   parse_duration("1.5")  -> 1.5 s        parse_duration("500ms") -> 0.5 s
//   parse_duration("2s"), ("1m"), ("1h"), ("1d")   seconds, minutes, hours, days
//   parse_count("3")       -> 3            parse_size("64K") -> 65536
//
// A duration is timeout(1)'s DURATION: a decimal number (exponents allowed,
// "1e3") with an optional suffix s, m, h or d, plus "ms" for milliseconds.
// Unlike timeout(1), "inf" is refused like "nan": a duration of 0 already
// means "none" wherever a timeout is optional.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace pipekit::cli {

using seconds_d = std::chrono::duration<double>;

// Parsed value, or the reason the text is not one (a sentence fragment:
// "expected a duration such as 1.5, 500ms, 2s, 1m, 1h or 1d, got 'x'").
template <class T>
using parsed = std::variant<T, std::string>;

// Non-negative, finite; at most 1e9 seconds worth of unit (about 31 years),
// more is out of range.
[[nodiscard]] parsed<seconds_d> parse_duration(std::string_view text);
// A whole number from `min` up to `max`, decimal digits only.
[[nodiscard]] parsed<std::uint64_t> parse_count(std::string_view text, std::uint64_t min = 0,
                                                std::uint64_t max = UINT64_MAX);
// Bytes: a whole number with an optional binary suffix K, M or G (KiB, MiB,
// GiB also read), up to `max`.
[[nodiscard]] parsed<std::uint64_t> parse_size(std::string_view text, std::uint64_t max = UINT64_MAX);

// "64 KiB", "1 MiB", "4096 bytes": exact binary units when they divide evenly.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

// "0.5 s", "2 s", "90 s": a duration for messages.
[[nodiscard]] std::string describe_seconds(seconds_d s);

}  // namespace pipekit::cli
