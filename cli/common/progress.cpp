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

live_line::live_line(std::vector<std::string> names, std::size_t width, progress_line::writer write,
                     std::chrono::milliseconds interval, std::chrono::milliseconds first_after)
    : names_(std::move(names)),
      width_(width),
      write_(std::move(write)),
      interval_(interval),
      first_after_(first_after) {}

void live_line::update(std::span<const std::uint64_t> totals, clock::time_point now) {
  if (!started_) {
    started_ = true;
    start_ = last_draw_ = now;
    last_totals_.assign(totals.begin(), totals.end());
    return;
  }
  if (now - last_draw_ < interval_) return;
  if (!drawn_ && now - start_ < first_after_) return;  // a short run shows nothing
  drawn_ = true;
  const std::chrono::duration<double> since = now - last_draw_;
  std::string line;
  for (std::size_t i = 0; i < totals.size() && i < names_.size(); ++i) {
    const std::uint64_t before = i < last_totals_.size() ? last_totals_[i] : 0;
    line += fmt::format("{} {} {} | ", names_[i], format_amount(totals[i]),
                        format_rate(totals[i] >= before ? totals[i] - before : 0, since));
  }
  line += fmt::format("{:.1f} s", std::chrono::duration<double>(now - start_).count());
  // One column short of the width: a line that fills the last column makes
  // some terminals wrap at once.
  if (width_ > 1 && line.size() > width_ - 1) line.resize(width_ - 1);
  std::string out = "\r" + line;
  if (line.size() < drawn_width_) out += std::string(drawn_width_ - line.size(), ' ');
  drawn_width_ = line.size();
  write_(out);
  last_draw_ = now;
  last_totals_.assign(totals.begin(), totals.end());
}

void live_line::erase() {
  if (drawn_width_ == 0) return;
  write_("\r" + std::string(drawn_width_, ' ') + "\r");
  drawn_width_ = 0;
}

}  // namespace pipekit::cli
