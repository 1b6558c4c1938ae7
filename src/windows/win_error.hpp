// Internal: Windows error codes as std::error_code, and UTF-8 <-> UTF-16.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace pipekit::detail {

// GetLastError() values. The category maps them to std::errc conditions, so
// `ec == std::errc::broken_pipe` holds for ERROR_BROKEN_PIPE as on POSIX.
const std::error_category& win32_category() noexcept;

inline std::error_code win_error(unsigned long code) noexcept { return {static_cast<int>(code), win32_category()}; }
std::error_code last_win_error() noexcept;

std::wstring to_wide(std::string_view utf8);
std::string to_utf8(std::wstring_view wide);

}  // namespace pipekit::detail
