#include "inputs.hpp"

#include <cstdio>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"

namespace clipface::app {

void InputPolicy::add_to(CLI::App& app) {
  app.add_flag("--strict", strict, "fail (before writing anything) when any input cannot be used");
  app.add_flag("--allow-skips", allow_skips,
               "exit 0 even when some inputs were skipped (default: exit 7, see README)");
}

void SkipList::skip(const std::string& path, const std::string& reason, int exit_code) {
  std::fprintf(stderr, "clipface: skipped %s: %s\n", path.c_str(), reason.c_str());
  skips_.push_back({path, reason, exit_code});
}

nlohmann::json skip_json(const std::string& path, const std::string& reason, int exit_code) {
  return {{"file", path}, {"reason", reason}, {"code", exit_code}};
}

int SkipList::exit_code(const InputPolicy& policy) const {
  if (skips_.empty()) return 0;
  if (used_ == 0 || policy.strict) return first_code();
  return policy.allow_skips ? 0 : kPartialExit;
}

nlohmann::json SkipList::json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : skips_) out.push_back(skip_json(s.path, s.reason, s.code));
  return out;
}

void SkipList::print_summary(const std::string& what) const {
  // With one input its skip line says it all.
  if (skips_.empty() || skips_.size() + used_ < 2) return;
  std::fprintf(stderr, "clipface: %zu of %zu %s skipped\n", skips_.size(), skips_.size() + used_,
               what.c_str());
}

std::vector<std::filesystem::path> expand_image_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::filesystem::path> files;
  for (const auto& input : inputs) {
    if (std::filesystem::is_directory(input)) {
      for (auto& f : list_images(input, /*recursive=*/true)) files.push_back(std::move(f));
    } else {
      files.emplace_back(input);
    }
  }
  return files;
}

void require_readable_images(const std::vector<std::filesystem::path>& files) {
  std::vector<SkippedInputsError::Input> unreadable;
  for (const auto& file : files) {
    try {
      load_image(file);
    } catch (const ImageError& e) {
      unreadable.push_back({file.string(), e.reason(), e.exit_code()});
    }
  }
  if (!unreadable.empty()) throw SkippedInputsError(std::move(unreadable), files.size());
}

void add_box_fields(nlohmann::json& out, const Face& face, cv::Size image) {
  const cv::Rect2f box = clip_box(face.box, image);
  out["box"] = {box.x, box.y, box.width, box.height};
  out["box_raw"] = {face.box.x, face.box.y, face.box.width, face.box.height};
}

}  // namespace clipface::app
