#include "common/progress.hpp"

#include <fmt/core.h>

#include <array>
#include <utility>

namespace pipekit::cli {

std::string format_amount(std::uint64_t bytes) {
  constexpr std::array<const char*, 5> units{"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  auto v = static_cast<double>(bytes) / 1024.0;
  std::size_t u = 0;
  // 1023.95 KiB would print as "1024.0 KiB": such values move up a unit.
  while (v >= 1023.95 && u + 1 < units.size()) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string format_rate(std::uint64_t bytes, std::chrono::duration<double> elapsed) {
  if (elapsed.count() <= 0) return "0 B/s";
  return format_amount(static_cast<std::uint64_t>(static_cast<double>(bytes) / elapsed.count())) + "/s";
}

progress_line::progress_line(progress_options options, writer write)
    : options_(std::move(options)), write_(std::move(write)) {}

void progress_line::update(std::uint64_t total, clock::time_point now) {
  if (finished_) return;
  if (!started_) {
    started_ = true;
    start_ = last_draw_ = now;
    last_total_ = total;
    return;
  }
  const auto interval = options_.terminal ? options_.interval : options_.plain_interval;
  if (now - last_draw_ < interval) return;
  const std::uint64_t moved = total >= last_total_ ? total - last_total_ : 0;
  draw(fmt::format("{}  {}", format_amount(total), format_rate(moved, now - last_draw_)), false);
  last_draw_ = now;
  last_total_ = total;
}

void progress_line::finish(std::uint64_t total, clock::time_point now) {
  if (finished_) return;
  const std::chrono::duration<double> elapsed = started_ ? now - start_ : clock::duration::zero();
  draw(fmt::format("{} in {:.1f} s, {}", format_amount(total), elapsed.count(), format_rate(total, elapsed)), true);
  finished_ = true;
}

void progress_line::draw(const std::string& text, bool last) {
  const std::string line = options_.label.empty() ? text : options_.label + ": " + text;
  if (!options_.terminal) {
    write_(line + "\n");
    return;
  }
  // Spaces over what a longer earlier line left: plain spaces and \r work
  // on every terminal, with no escape sequences.
  std::string out = "\r" + line;
  if (line.size() < drawn_width_) out += std::string(drawn_width_ - line.size(), ' ');
  drawn_width_ = line.size();
  if (last) out += "\n";
  write_(out);
}

}  // namespace pipekit::cli
