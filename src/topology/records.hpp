// Internal to the topologies: finding where records (lines or channel
// frames, pipekit/topology/record_format.hpp) end in a run of bytes, for
// fan_out's scatter and fan_in's merge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipekit/topology/record_format.hpp"

namespace pipekit::detail {

// The length of the whole record at the start of `data`: 0 when it is not
// complete yet; `bad` when it can never be (a malformed frame header).
[[nodiscard]] std::size_t record_length(std::string_view data, record_format f, bool& bad);

// How long the record at the start of `data` will be once complete, as far
// as can be told now (for the size bound): a frame says so in its header.
[[nodiscard]] std::uint64_t announced_length(std::string_view data, record_format f);

// The number of records in `data` (whole records, and a last line without
// '\n').
[[nodiscard]] std::uint64_t count_records(std::string_view data, record_format f);

// Where the last record that starts at or before `n` begins: the records
// before it were written whole when a write stopped after `n` bytes.
[[nodiscard]] std::size_t whole_records_end(std::string_view data, std::size_t n, record_format f);

}  // namespace pipekit::detail
