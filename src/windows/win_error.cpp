#include "windows/win_error.hpp"

#include <windows.h>

namespace pipekit::detail {
namespace {

class win32_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "win32"; }

  std::string message(int value) const override {
    wchar_t* text = nullptr;
    const DWORD n =
        ::FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                         nullptr, static_cast<DWORD>(value), 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
    std::string s;
    if (n != 0 && text != nullptr) {
      s = to_utf8(std::wstring_view(text, n));
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '.')) s.pop_back();
    }
    if (text != nullptr) ::LocalFree(text);
    if (s.empty()) s = "Windows error " + std::to_string(static_cast<unsigned long>(value));
    return s;
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<DWORD>(value)) {
      case ERROR_BROKEN_PIPE:
      case ERROR_NO_DATA:
      case ERROR_PIPE_NOT_CONNECTED: return std::errc::broken_pipe;
      case ERROR_FILE_NOT_FOUND:
      case ERROR_PATH_NOT_FOUND:
      case ERROR_INVALID_DRIVE:
      case ERROR_BAD_NETPATH:
      case ERROR_MOD_NOT_FOUND: return std::errc::no_such_file_or_directory;
      case ERROR_ACCESS_DENIED:
      case ERROR_SHARING_VIOLATION: return std::errc::permission_denied;
      case ERROR_INVALID_HANDLE: return std::errc::bad_file_descriptor;
      case ERROR_NOT_ENOUGH_MEMORY:
      case ERROR_OUTOFMEMORY: return std::errc::not_enough_memory;
      case ERROR_INVALID_PARAMETER:
      case ERROR_INVALID_NAME: return std::errc::invalid_argument;
      case WAIT_TIMEOUT:
      case ERROR_SEM_TIMEOUT:
      case ERROR_TIMEOUT: return std::errc::timed_out;
      case ERROR_PIPE_BUSY:
      case ERROR_BUSY: return std::errc::device_or_resource_busy;
      case ERROR_BAD_EXE_FORMAT:
      case ERROR_EXE_MACHINE_TYPE_MISMATCH: return std::errc::executable_format_error;
      case ERROR_DIRECTORY: return std::errc::not_a_directory;
      case ERROR_OPERATION_ABORTED: return std::errc::operation_canceled;
      case ERROR_IO_PENDING: return std::errc::operation_in_progress;
      case ERROR_MORE_DATA: return std::errc::message_size;
      case ERROR_ALREADY_EXISTS:
      case ERROR_FILE_EXISTS: return std::errc::file_exists;
      case ERROR_NOT_SUPPORTED:
      case ERROR_CALL_NOT_IMPLEMENTED: return std::errc::not_supported;
      case ERROR_FILENAME_EXCED_RANGE: return std::errc::filename_too_long;
      case ERROR_TOO_MANY_OPEN_FILES: return std::errc::too_many_files_open;
      default: return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& win32_category() noexcept {
  static const win32_category_impl instance;
  return instance;
}

std::error_code last_win_error() noexcept { return win_error(::GetLastError()); }

std::wstring to_wide(std::string_view utf8) {
  if (utf8.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring w(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), w.data(), n);
  return w;
}

std::string to_utf8(std::wstring_view wide) {
  if (wide.empty()) return {};
  const int n =
      ::WideCharToMultiByte(CP_UTF8, 0, wide.data(), static_cast<int>(wide.size()), nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, 0, wide.data(), static_cast<int>(wide.size()), s.data(), n, nullptr, nullptr);
  return s;
}

}  // namespace pipekit::detail
