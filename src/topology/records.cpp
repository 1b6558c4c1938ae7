#include "topology/records.hpp"

#include "sys/channel_wire.hpp"

namespace pipekit::detail {

std::size_t record_length(std::string_view data, record_format f, bool& bad) {
  bad = false;
  if (f == record_format::lines) {
    const std::size_t nl = data.find('\n');
    return nl == std::string_view::npos ? 0 : nl + 1;
  }
  std::size_t header = 0;
  std::uint64_t length = 0;
  const auto* p = reinterpret_cast<const std::byte*>(data.data());
  switch (wire::decode_header(p, data.size(), header, length)) {
    case wire::header_status::need_more: return 0;
    case wire::header_status::bad: bad = true; return 0;
    case wire::header_status::complete: break;
  }
  if (length > data.size() - header) return 0;
  return header + static_cast<std::size_t>(length);
}

std::uint64_t announced_length(std::string_view data, record_format f) {
  if (f == record_format::lines) return data.size();
  std::size_t header = 0;
  std::uint64_t length = 0;
  const auto* p = reinterpret_cast<const std::byte*>(data.data());
  if (wire::decode_header(p, data.size(), header, length) != wire::header_status::complete) return data.size();
  return header + length;
}

std::uint64_t count_records(std::string_view data, record_format f) {
  std::uint64_t n = 0;
  bool bad = false;
  while (!data.empty()) {
    std::size_t len = record_length(data, f, bad);
    if (len == 0) len = data.size();
    data.remove_prefix(len);
    ++n;
  }
  return n;
}

std::size_t whole_records_end(std::string_view data, std::size_t n, record_format f) {
  std::size_t at = 0;
  bool bad = false;
  while (at < data.size()) {
    std::size_t len = record_length(data.substr(at), f, bad);
    if (len == 0) len = data.size() - at;
    if (at + len > n) break;
    at += len;
  }
  return at;
}

}  // namespace pipekit::detail
