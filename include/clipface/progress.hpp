// A terminal progress bar for long work (enrollment, evaluation, downloads, training).
// Draws to stderr only when it is a terminal, so JSON on stdout and logs stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace clipface {

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
  void draw(bool final);

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::string status_;
  bool enabled_;
  bool bytes_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace clipface
