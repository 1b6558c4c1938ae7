#include "pipekit/error.hpp"

namespace pipekit {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pipekit"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::end_of_file: return "end of stream before the expected data arrived";
      case errc::exec_failed: return "the program could not be started";
      case errc::message_too_large: return "message larger than the allowed maximum";
      case errc::protocol_error: return "protocol error";
      case errc::not_supported: return "operation not supported on this platform or object";
      case errc::process_not_running: return "the process has already been waited for";
      case errc::invalid_argument: return "invalid argument";
      case errc::timed_out: return "timed out";
      case errc::stale_registration:
        return "a handle registered with the poller was closed without remove(), and its number was reused";
    }
    return "unknown pipekit error";
  }
  // So that `ec == std::errc::...` works for pipekit's own codes where a
  // standard condition has the same meaning.
  bool equivalent(int value, const std::error_condition& cond) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::message_too_large: return cond == std::errc::message_size;
      case errc::protocol_error: return cond == std::errc::protocol_error;
      case errc::not_supported: return cond == std::errc::not_supported;
      case errc::invalid_argument: return cond == std::errc::invalid_argument;
      case errc::timed_out: return cond == std::errc::timed_out;
      default: return default_error_condition(value) == cond;
    }
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

namespace detail {
void throw_if(const std::error_code& ec, const char* what) {
  if (ec) throw std::system_error(ec, what);
}
void throw_if(const std::error_code& ec, const std::string& what) {
  if (ec) throw std::system_error(ec, what);
}
}  // namespace detail

}  // namespace pipekit
