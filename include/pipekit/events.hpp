// events: what a handle, a stream or an event source is ready for. One enum
// for the poller, stream::wait() and poll_source, so a loop never converts
// between two vocabularies.
#pragma once

namespace pipekit {

enum class events : unsigned {
  none = 0,
  readable = 1u << 0,
  writable = 1u << 1,
  hangup = 1u << 2,  // reported, never requested: the peer closed
  error = 1u << 3,   // reported, never requested: an error is pending on the handle
};
constexpr events operator|(events a, events b) noexcept {
  return static_cast<events>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr events operator&(events a, events b) noexcept {
  return static_cast<events>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr events& operator|=(events& a, events b) noexcept { return a = a | b; }
constexpr bool any(events e) noexcept { return e != events::none; }

}  // namespace pipekit
