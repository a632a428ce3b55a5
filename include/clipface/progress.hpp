// Progress of long work (enrollment, evaluation, downloads, training) on stderr, never stdout, so
// JSON on stdout stays clean. On a terminal: a bar redrawn in place. Otherwise (a log file, CI,
// nohup): one plain line every few seconds with done/total, rate and ETA, and a last line when the
// work ends, so a log shows that something is happening and how long it will take (work shorter
// than one interval prints nothing).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace clipface {

enum class ProgressOutput {
  automatic,  // a bar on a terminal, plain lines otherwise
  bar,        // always the bar (tests)
  lines,      // always plain lines
  off,        // nothing (--quiet)
};

// Process-wide choice (the CLI's --quiet sets off). The interval between plain lines is
// CLIPFACE_PROGRESS_SECONDS (default 5; 0 = a line for every update).
void set_progress_output(ProgressOutput output);
ProgressOutput progress_output();

class ProgressBar {
 public:
  ProgressBar(std::string label, std::uint64_t total, bool enabled = true);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(std::uint64_t done, const std::string& status = {});
  void advance(std::uint64_t n = 1, const std::string& status = {}) { update(done_ + n, status); }
  void set_total(std::uint64_t total) { total_ = total; }
  void finish(const std::string& status = {});

  // Units shown after the counts: "" for items, "B" for bytes (shown as KiB/MiB).
  void set_bytes(bool bytes) { bytes_ = bytes; }

 private:
  enum class Style { none, bar, lines };
  void draw(bool final);
  std::string amount() const;
  std::string speed(double rate) const;

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::string status_;
  Style style_;
  bool bytes_ = false;
  bool finished_ = false;
  bool drew_ = false;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace clipface
