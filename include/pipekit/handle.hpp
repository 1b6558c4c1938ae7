// handle: the move-only owner of one operating-system handle (a descriptor on
// POSIX, a HANDLE on Windows). Closing happens exactly once, in close() or the
// destructor; a moved-from handle owns nothing.
//
// Thread-safety: a handle is not synchronised; share it by reference between
// threads only when no thread closes or moves it.
#pragma once

#include <system_error>

#include "pipekit/export.hpp"
#include "pipekit/native_handle.hpp"

namespace pipekit {

class PIPEKIT_EXPORT handle {
 public:
  handle() noexcept = default;
  explicit handle(native_handle_type h) noexcept : h_(h) {}
  handle(handle&& other) noexcept : h_(other.release()) {}
  handle& operator=(handle&& other) noexcept;
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle();

  [[nodiscard]] native_handle_type native_handle() const noexcept { return h_; }
  [[nodiscard]] bool is_open() const noexcept { return h_ != invalid_native_handle; }
  explicit operator bool() const noexcept { return is_open(); }

  // Gives up ownership without closing.
  [[nodiscard]] native_handle_type release() noexcept {
    const native_handle_type h = h_;
    h_ = invalid_native_handle;
    return h;
  }

  // Closes now and reports the error the OS gave (the handle is released
  // whatever happens, as POSIX leaves a descriptor closed even on EINTR).
  void close();
  void close(std::error_code& ec) noexcept;

  // A second, independent handle to the same object, not inheritable.
  [[nodiscard]] handle duplicate() const;
  [[nodiscard]] handle duplicate(std::error_code& ec) const noexcept;

 private:
  native_handle_type h_ = invalid_native_handle;
};

}  // namespace pipekit
