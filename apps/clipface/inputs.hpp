// The CLI's rule for commands that take many inputs (enroll, add, identify, detect, embed, eval;
// README, "Exit codes"):
//  - each input that is not used gets one line on stderr: "clipface: skipped PATH: REASON";
//  - the exit code is 0 when every input was used, the skipped inputs' own code (the first one's:
//    3 unreadable image, 2 bad data such as no face) when none was, and kPartialExit when some
//    were skipped (0 with --allow-skips);
//  - --strict makes any skip fail the call before anything is written.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/detect.hpp"

namespace clipface::app {

// Some inputs were used, some skipped: the results of the used ones are printed and kept.
inline constexpr int kPartialExit = 7;

struct InputPolicy {
  bool strict = false;
  bool allow_skips = false;
  void add_to(CLI::App& app);
};

// {"file", "reason", "code"}: one skipped input in a command's JSON.
nlohmann::json skip_json(const std::string& path, const std::string& reason, int exit_code);

class SkipList {
 public:
  // Records the input and prints its line on stderr.
  void skip(const std::string& path, const std::string& reason, int exit_code);
  void use(std::size_t count = 1) { used_ += count; }

  bool empty() const { return skips_.empty(); }
  std::size_t size() const { return skips_.size(); }
  std::size_t used() const { return used_; }
  // The exit code of the rule above for what was recorded.
  int exit_code(const InputPolicy& policy) const;
  // The code a --strict call fails with (the first skip's); 0 when nothing was skipped.
  int first_code() const { return skips_.empty() ? 0 : skips_.front().code; }
  // [{"file", "reason", "code"}], for commands that print JSON.
  nlohmann::json json() const;
  // "clipface: 2 of 17 inputs skipped" on stderr, when any were (and there was more than one).
  void print_summary(const std::string& what = "inputs") const;

 private:
  struct Skip {
    std::string path, reason;
    int code;
  };
  std::vector<Skip> skips_;
  std::size_t used_ = 0;
};

// Image files named on the command line: files as given (a missing one is reported when it is
// read), folders searched recursively.
std::vector<std::filesystem::path> expand_image_inputs(const std::vector<std::string>& inputs);

// --strict: every file must decode before anything is printed or written; SkippedInputsError
// listing every one that does not.
void require_readable_images(const std::vector<std::filesystem::path>& files);

// "box": [x, y, w, h] clipped to the image (as face_recognition reports it), "box_raw": the
// detector's own box, which may reach past the edge for a partly visible face.
void add_box_fields(nlohmann::json& out, const Face& face, cv::Size image);

}  // namespace clipface::app
