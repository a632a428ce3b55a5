// The anti-spoofing gate and the attribute models, each fed as its upstream project trained it
// (crops from our own alignment; see docs/results.md for what was measured).
#include <ATen/ATen.h>

#include <algorithm>
#include <sstream>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "clipface/face_analysis.hpp"
#include "tfjs/face_model.hpp"

namespace clipface {
namespace {

using Channels = tfjs::PixelFormat::Channels;

// A model, the crop it looks at and the width of its (first) output.
struct Step {
  tfjs::FaceModelRecipe recipe;
  CropStyle crop;
  std::int64_t classes;
};

// Kaggle fake-face-detection CNN: RGB 0..1, a face with some context (Human feeds its face box).
const Step kAntispoof{{"antispoof", 128, {Channels::rgb, 1.0 / 255, 0.0}}, CropStyle::loose, 1};
// livenessnet (PyImageSearch style): RGB 0..1 at 32x32.
const Step kLiveness{{"liveness", 32, {Channels::rgb, 1.0 / 255, 0.0}}, CropStyle::loose, 2};
// SSR-Net: trained on OpenCV (BGR) crops of the face box plus 40% margin, raw 0..255.
const Step kAge{{"age", 64, {Channels::bgr, 1.0, 0.0}}, CropStyle::loose, 1};
// oarriaga's mini-Xception models: grey, (x / 255 - 0.5) * 2.
const Step kGender{{"gender", 64, {Channels::grey, 2.0 / 255, -1.0}}, CropStyle::loose, 2};
const Step kEmotion{{"emotion", 64, {Channels::grey, 2.0 / 255, -1.0}}, CropStyle::loose, 7};

// The liveness model's two classes are (live, spoof), as the Human library reads them.
constexpr std::int64_t kLiveClass = 0;

struct Model {
  explicit Model(const Step& step) : crop(step.crop), model(step.recipe) {
    const auto& outputs = model.loaded().graph->outputs();
    const std::vector<std::int64_t> wanted = {-1, step.classes};
    if (outputs.empty() || outputs[0].shape != wanted) {
      throw ModelError(model.loaded().json.string() + ": the " + step.recipe.name +
                       " model should give " + std::to_string(step.classes) + " value(s) per face");
    }
  }
  CropStyle crop;
  tfjs::FaceModel model;

  // The first output, one row per face, as floats.
  at::Tensor run(const cv::Mat& image, const std::vector<Face>& faces) const {
    const auto crops = align_faces(image, faces, model.recipe().size, crop);
    return model.run(crops)[0]
        .reshape({static_cast<std::int64_t>(faces.size()), -1})
        .to(at::kFloat)
        .contiguous();
  }
};

}  // namespace

struct FaceAnalyzer::Impl {
  AnalysisOptions options;
  std::optional<Model> antispoof, liveness, age, gender, emotion;
};

const std::vector<std::string>& known_attributes() {
  static const std::vector<std::string> names = {"age", "gender", "emotion"};
  return names;
}

const std::vector<std::string>& emotion_names() {
  static const std::vector<std::string> names = {"angry", "disgust",  "fear",   "happy",
                                                 "sad",   "surprise", "neutral"};
  return names;
}

std::set<std::string> parse_attributes(const std::string& list) {
  std::set<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    const auto& known = known_attributes();
    if (std::find(known.begin(), known.end(), item) == known.end()) {
      throw InputError("unknown attribute '" + item + "' (known: age, gender, emotion)");
    }
    out.insert(item);
  }
  if (out.empty()) throw InputError("--attributes needs at least one of age, gender, emotion");
  return out;
}

void validate_antispoof_threshold(float threshold) {
  if (!(threshold >= 0.0f && threshold <= 1.0f)) {
    throw InputError("anti-spoofing threshold " + std::to_string(threshold) +
                     " is outside 0..1 (the real score's range)");
  }
}

FaceAnalyzer::FaceAnalyzer(const AnalysisOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (options.antispoof_threshold) {
    validate_antispoof_threshold(*options.antispoof_threshold);
    impl_->antispoof.emplace(kAntispoof);
    impl_->liveness.emplace(kLiveness);
  }
  for (const auto& attribute : options.attributes) {
    if (attribute == "age") impl_->age.emplace(kAge);
    if (attribute == "gender") impl_->gender.emplace(kGender);
    if (attribute == "emotion") impl_->emotion.emplace(kEmotion);
  }
}

FaceAnalyzer::~FaceAnalyzer() = default;
FaceAnalyzer::FaceAnalyzer(FaceAnalyzer&&) noexcept = default;
FaceAnalyzer& FaceAnalyzer::operator=(FaceAnalyzer&&) noexcept = default;

const AnalysisOptions& FaceAnalyzer::options() const {
  return impl_->options;
}

std::vector<FaceAnalysis> FaceAnalyzer::analyze(const cv::Mat& image,
                                                const std::vector<Face>& faces) const {
  std::vector<FaceAnalysis> out(faces.size());
  if (faces.empty()) return out;
  const Impl& m = *impl_;
  if (m.antispoof) {
    const at::Tensor real = m.antispoof->run(image, faces);
    const at::Tensor live = m.liveness->run(image, faces);
    for (std::size_t i = 0; i < faces.size(); ++i) {
      SpoofCheck check;
      check.real = real[static_cast<std::int64_t>(i)][0].item<float>();
      check.live = live[static_cast<std::int64_t>(i)][kLiveClass].item<float>();
      check.threshold = *m.options.antispoof_threshold;
      check.spoof = check.real < check.threshold;
      out[i].spoof = check;
    }
  }
  if (m.options.attributes.empty()) return out;
  for (auto& analysis : out) analysis.attributes.emplace();
  if (m.age) {
    const at::Tensor years = m.age->run(image, faces);
    for (std::size_t i = 0; i < faces.size(); ++i) {
      out[i].attributes->age = years[static_cast<std::int64_t>(i)][0].item<float>();
    }
  }
  if (m.gender) {
    const at::Tensor p = m.gender->run(image, faces);  // (female, male)
    for (std::size_t i = 0; i < faces.size(); ++i) {
      const float female = p[static_cast<std::int64_t>(i)][0].item<float>();
      const float male = p[static_cast<std::int64_t>(i)][1].item<float>();
      out[i].attributes->gender = female > male ? "female" : "male";
      out[i].attributes->gender_score = std::max(female, male);
    }
  }
  if (m.emotion) {
    const at::Tensor p = m.emotion->run(image, faces);
    const auto& names = emotion_names();
    for (std::size_t i = 0; i < faces.size(); ++i) {
      auto& emotions = out[i].attributes->emotions;
      for (std::size_t k = 0; k < names.size(); ++k) {
        emotions.emplace_back(
            names[k], p[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(k)].item<float>());
      }
      std::stable_sort(emotions.begin(), emotions.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      out[i].attributes->emotion = emotions.front().first;
    }
  }
  return out;
}

}  // namespace clipface
