// The one platform-specific type in pipekit's public headers.
#pragma once

namespace pipekit {

#if defined(_WIN32)
using native_handle_type = void*;  // a Windows HANDLE
inline const native_handle_type invalid_native_handle =
    reinterpret_cast<native_handle_type>(static_cast<long long>(-1));
#else
using native_handle_type = int;  // a POSIX file descriptor
inline constexpr native_handle_type invalid_native_handle = -1;
#endif

}  // namespace pipekit
