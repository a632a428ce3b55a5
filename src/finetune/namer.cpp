// Naming faces with a classifier file (no LibTorch here: the ClipModel API is enough).
#include <unistd.h>

#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"

namespace clipface::finetune {
namespace fs = std::filesystem;

std::vector<Decision> PromptClassifier::decide(const Matrix& embeddings,
                                               float min_confidence) const {
  std::vector<Decision> out;
  for (const auto& d : classify(embeddings, min_confidence)) {
    Decision decision;
    decision.label = d.known() ? d.label : kUnknown;
    decision.score = d.confidence;
    decision.nearest = d.best;
    out.push_back(std::move(decision));
  }
  return out;
}

void check_writable(const fs::path& file) {
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    throw InputError("cannot write " + file.string() + ": it is a folder");
  }
  if (!fs::is_directory(dir, ec)) {
    throw InputError("cannot write " + file.string() + ": folder " + dir.string() +
                     " does not exist");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw InputError("cannot write " + file.string() + ": folder " + dir.string() +
                     " is read-only");
  }
}

FaceClassifier::FaceClassifier(const fs::path& file, const std::string& base_model,
                               const DetectorOptions& detector, std::optional<bool> cropped) {
  const ClassifierInfo info = read_classifier_info(file);
  const std::string base = base_model.empty() ? info.base_path : base_model;
  if (base.empty()) {
    if (!info.random_weights) {
      throw ModelError(file.string() + ": records no base model path; give the base model");
    }
    base_ = std::make_unique<ClipModel>(
        ClipModel::random(info.base_architecture, {}, info.base_seed));
  } else {
    base_ = std::make_unique<ClipModel>(ClipModel::load(base));
  }
  classifier_ = PromptClassifier::load(file, *base_);
  cropped_ = cropped.value_or(info.cropped);
  crop_style_ = parse_crop_style(info.crop_style);
  if (!cropped_) detector_ = make_detector(detector);
}

FaceClassifier::~FaceClassifier() = default;
FaceClassifier::FaceClassifier(FaceClassifier&&) noexcept = default;

std::vector<ClassifiedFace> FaceClassifier::classify(const cv::Mat& image,
                                                     float min_confidence) const {
  std::vector<ClassifiedFace> out;
  std::vector<cv::Mat> crops;
  if (cropped_) {
    ClassifiedFace whole;
    whole.face.box = cv::Rect2f(0, 0, static_cast<float>(image.cols),
                                static_cast<float>(image.rows));
    out.push_back(whole);
    crops.push_back(image);
  } else {
    for (const Face& face : detector_->detect(image)) {
      out.push_back({face, {}});
      crops.push_back(align_face(image, face, base_->info().image_size, crop_style_));
    }
  }
  if (crops.empty()) return out;
  const Matrix embeddings = base_->encode_images(crops, ImageResize::squash, true);
  const auto decisions = classifier_.classify(embeddings, min_confidence);
  for (std::size_t i = 0; i < out.size(); ++i) out[i].decision = decisions[i];
  return out;
}

}  // namespace clipface::finetune
