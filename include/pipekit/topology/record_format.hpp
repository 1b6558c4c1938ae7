// How the topologies cut a byte stream into records they never tear:
// fan_in merges whole records, fan_out's scatter deals them out.
#pragma once

namespace pipekit {

enum class record_format {
  lines,   // ending in '\n'; a last one without is kept whole too
  frames,  // a channel frame each (header and payload, channel.hpp's framing)
};

}  // namespace pipekit
