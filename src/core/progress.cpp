#include "clipface/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace clipface {
namespace {

std::atomic<ProgressOutput>& chosen_output() {
  static std::atomic<ProgressOutput> output{ProgressOutput::automatic};
  return output;
}

std::chrono::steady_clock::duration line_interval() {
  double seconds = 5;
  if (const char* text = std::getenv("CLIPFACE_PROGRESS_SECONDS"); text && *text) {
    char* end = nullptr;
    const double value = std::strtod(text, &end);
    if (end != text && value >= 0) seconds = value;
  }
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(seconds));
}

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

// "42s", "3m07s", "1h02m".
std::string duration_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

}  // namespace

void set_progress_output(ProgressOutput output) {
  chosen_output().store(output);
}

ProgressOutput progress_output() {
  return chosen_output().load();
}

ProgressBar::ProgressBar(std::string label, std::uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      style_(Style::none),
      start_(std::chrono::steady_clock::now()) {
  if (enabled) {
    switch (progress_output()) {
      case ProgressOutput::automatic:
        style_ = ::isatty(STDERR_FILENO) ? Style::bar : Style::lines;
        break;
      case ProgressOutput::bar:
        style_ = Style::bar;
        break;
      case ProgressOutput::lines:
        style_ = Style::lines;
        break;
      case ProgressOutput::off:
        break;
    }
  }
  // A bar redraws at most ten times a second (drawing must never slow the work it reports); a
  // log gets a line every few seconds, the first one after the first interval.
  interval_ = style_ == Style::bar ? std::chrono::milliseconds(100) : line_interval();
  last_draw_ = style_ == Style::bar ? start_ - interval_ : start_;
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::update(std::uint64_t done, const std::string& status) {
  done_ = done;
  if (!status.empty()) status_ = status;
  if (style_ == Style::none) return;
  const auto now = std::chrono::steady_clock::now();
  const bool complete = total_ && done_ >= total_;
  if (now - last_draw_ >= interval_ || (complete && style_ == Style::bar)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish(const std::string& status) {
  if (finished_) return;
  if (!status.empty()) status_ = status;
  finished_ = true;
  // A log gets the closing line only after progress lines: work shorter than one interval stays
  // silent, so a quick command that fails still says so in one line.
  if (style_ == Style::lines && !drew_) return;
  draw(true);
}

std::string ProgressBar::amount() const {
  std::string text = human(done_, bytes_);
  if (total_ > 0) {
    text += '/';
    text += human(total_, bytes_);
  }
  return text;
}

std::string ProgressBar::speed(double rate) const {
  char text[48];
  std::snprintf(text, sizeof text, "%.1f%s/s", bytes_ ? rate / (1 << 20) : rate,
                bytes_ ? " MiB" : "");
  return text;
}

void ProgressBar::draw(bool final) {
  if (style_ == Style::none) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double fraction =
      total_ > 0 ? std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_)) : 0.0;
  std::string line;
  if (style_ == Style::lines) {
    // "clipface: enrolling 120/4992 (2%) 21.3/s eta 3m49s  barack_obama"
    line = "clipface: ";
    line += label_;
    line += ' ';
    line += amount();
    if (total_ > 0) {
      char pct[16];
      std::snprintf(pct, sizeof pct, " (%.0f%%)", fraction * 100);
      line += pct;
    }
    line += ' ';
    line += speed(rate);
    if (final) {
      line += " done in ";
      line += duration_text(elapsed);
    } else if (total_ > 0 && rate > 0 && done_ < total_) {
      line += " eta ";
      line += duration_text(static_cast<double>(total_ - done_) / rate);
    }
    if (!status_.empty()) {
      line += "  ";
      line += status_;
    }
    line += '\n';
  } else {
    line = "\r";
    line += label_;
    line += ' ';
    if (total_ > 0) {
      constexpr int kWidth = 28;
      const int filled = static_cast<int>(fraction * kWidth);
      line += '[';
      line.append(static_cast<std::size_t>(filled), '#');
      line.append(static_cast<std::size_t>(kWidth - filled), '.');
      line += "] ";
      char pct[16];
      std::snprintf(pct, sizeof pct, "%3.0f%% ", fraction * 100);
      line += pct;
    }
    line += amount();
    line += ' ';
    line += speed(rate);
    if (total_ > 0 && rate > 0 && done_ < total_) {
      line += " eta ";
      line += duration_text(static_cast<double>(total_ - done_) / rate);
    }
    if (!status_.empty()) {
      line += "  ";
      line += status_;
    }
    line += "\x1b[K";  // clear the rest of the line
    if (final) line += "\n";
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drew_ = true;
}

}  // namespace clipface
