// How analysis results are written: JSON fields and one-line summaries.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "clipface/face_analysis.hpp"

namespace clipface {
namespace {

// Three decimals are plenty for scores people read and scripts threshold.
double rounded(float v) {
  return std::round(static_cast<double>(v) * 1000.0) / 1000.0;
}

}  // namespace

nlohmann::json to_json(const FaceAnalysis& analysis) {
  nlohmann::json out = nlohmann::json::object();
  if (analysis.spoof) {
    const SpoofCheck& s = *analysis.spoof;
    out["antispoof"] = {{"real", rounded(s.real)},
                        {"live", rounded(s.live)},
                        {"threshold", rounded(s.threshold)},
                        {"spoof", s.spoof}};
  }
  if (analysis.attributes) {
    const FaceAttributes& a = *analysis.attributes;
    nlohmann::json attributes = nlohmann::json::object();
    if (a.age) attributes["age"] = std::round(*a.age * 10.0) / 10.0;
    if (!a.gender.empty()) {
      attributes["gender"] = a.gender;
      attributes["gender_score"] = rounded(a.gender_score);
    }
    if (!a.emotion.empty()) {
      attributes["emotion"] = a.emotion;
      nlohmann::json emotions = nlohmann::json::object();
      for (const auto& [name, p] : a.emotions) emotions[name] = rounded(p);
      attributes["emotions"] = emotions;
    }
    out["attributes"] = attributes;
  }
  return out;
}

std::string summary(const FaceAnalysis& analysis) {
  std::string out;
  char buffer[64];
  auto add = [&](const char* text) { out += (out.empty() ? "" : ", ") + std::string(text); };
  if (analysis.spoof) {
    std::snprintf(buffer, sizeof buffer, "%s %.2f", analysis.spoof->spoof ? "spoof" : "real",
                  analysis.spoof->real);
    add(buffer);
  }
  if (analysis.attributes) {
    const FaceAttributes& a = *analysis.attributes;
    if (!a.gender.empty()) {
      std::snprintf(buffer, sizeof buffer, "%s %.2f", a.gender.c_str(), a.gender_score);
      add(buffer);
    }
    if (a.age) {
      std::snprintf(buffer, sizeof buffer, "%.0f y", *a.age);
      add(buffer);
    }
    if (!a.emotion.empty()) add(a.emotion.c_str());
  }
  return out;
}

}  // namespace clipface
