#include "clipface/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace clipface {
namespace {

std::string human(std::uint64_t n, bool bytes) {
  if (!bytes) return std::to_string(n);
  char buf[32];
  if (n >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  }
  return buf;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, std::uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::seconds(1)) {}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(std::uint64_t done, const std::string& status) {
  done_ = done;
  if (!status.empty()) status_ = status;
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second: drawing must never slow the work it reports.
  if (now - last_draw_ >= std::chrono::milliseconds(100) || (total_ && done_ >= total_)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish(const std::string& status) {
  if (!status.empty()) status_ = status;
  draw(true);
  finished_ = true;
}

void ProgressBar::draw(bool final) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line("\r");
  line += label_;
  line += ' ';
  if (total_ > 0) {
    constexpr int kWidth = 28;
    const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int filled = static_cast<int>(frac * kWidth);
    line += '[';
    line.append(static_cast<std::size_t>(filled), '#');
    line.append(static_cast<std::size_t>(kWidth - filled), '.');
    line += "] ";
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", frac * 100);
    line += pct;
    line += human(done_, bytes_) + "/" + human(total_, bytes_);
    if (rate > 0 && done_ < total_) {
      char eta[32];
      std::snprintf(eta, sizeof eta, " eta %.0fs", static_cast<double>(total_ - done_) / rate);
      line += eta;
    }
  } else {
    line += human(done_, bytes_);
  }
  char speed[48];
  std::snprintf(speed, sizeof speed, " %.1f%s/s", bytes_ ? rate / (1 << 20) : rate,
                bytes_ ? " MiB" : "");
  line += speed;
  if (!status_.empty()) line += "  " + status_;
  line += "\x1b[K";  // clear the rest of the line
  if (final) line += "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace clipface
