#include "clipface/open_set.hpp"

#include "clipface/errors.hpp"

namespace clipface {

const char* const kOpenSetDefinitions =
    "genuine probe = face of an enrolled person not used to enroll or train; impostor probe = "
    "face of a person never enrolled; accepted = a name with confidence >= threshold. accuracy = "
    "(genuine accepted with the right name + impostors not accepted) / all probes; FPR (NIST "
    "FPIR) = impostors accepted / impostor probes; FNR (NIST FNIR) = genuine probes not accepted "
    "with the right name (rejected or misnamed) / genuine probes; misidentified = genuine "
    "accepted with a wrong name (counted in FNR, also shown alone).";

OpenSetPoint evaluate_open_set(const std::vector<Prediction>& predictions,
                               const std::vector<std::string>& truth, float threshold) {
  if (predictions.size() != truth.size()) {
    throw InputError("open-set: " + std::to_string(predictions.size()) + " predictions for " +
                     std::to_string(truth.size()) + " probes");
  }
  OpenSetPoint p;
  p.threshold = threshold;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto& pred = predictions[i];
    const bool accepted = pred.label != kUnknown && pred.confidence >= threshold;
    if (truth[i].empty()) {
      ++p.impostor;
      p.impostor_accepted += accepted;
    } else {
      ++p.genuine;
      if (!accepted) {
        ++p.genuine_rejected;
      } else if (pred.label == truth[i]) {
        ++p.genuine_correct;
      } else {
        ++p.genuine_misidentified;
      }
    }
  }
  auto ratio = [](std::size_t a, std::size_t b) { return b ? double(a) / double(b) : 0.0; };
  p.accuracy = ratio(p.genuine_correct + p.impostor - p.impostor_accepted, p.genuine + p.impostor);
  p.fpr = ratio(p.impostor_accepted, p.impostor);
  p.fnr = ratio(p.genuine - p.genuine_correct, p.genuine);
  p.misidentification = ratio(p.genuine_misidentified, p.genuine);
  return p;
}

std::vector<OpenSetPoint> open_set_curve(const std::vector<Prediction>& predictions,
                                         const std::vector<std::string>& truth) {
  std::vector<OpenSetPoint> curve;
  for (int i = 0; i <= 100; ++i) {
    curve.push_back(evaluate_open_set(predictions, truth, static_cast<float>(i) / 100.0f));
  }
  return curve;
}

}  // namespace clipface
