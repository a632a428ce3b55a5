// Open-set identification metrics, the one definition every classifier is scored by (the kNN
// gallery vote in `eval openset`, the fine-tuned prompt classifier in `eval openset --classifier
// prompts`, `eval prompts` and finetune::evaluate_open_set). They are NIST's open-set
// identification rates (FNIR and FPIR, NIST IR 8271); the paper ("CLIP Unreasonable Potential in
// Single-Shot Face Recognition") names its Table I columns FPR and FNR, but its full text could not
// be checked here, so these are the definitions, printed with every result:
//   genuine probe  = a face of an enrolled person that was not used to enroll or train
//   impostor probe = a face of a person never enrolled
//   accepted       = a name other than Unknown with confidence >= threshold
//   accuracy = (genuine accepted with the right name + impostors not accepted) / all probes
//   FPR (FPIR) = impostors accepted / impostor probes
//   FNR (FNIR) = genuine probes not accepted with their right name (rejected or misnamed) /
//                genuine probes
//   misidentified = genuine accepted with a wrong name (part of FNR, also reported alone)
// Lives with the classifiers (below recognize and finetune) so every stage can count the same way.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "clipface/classify.hpp"

namespace clipface {

// One probe's answer. Thresholding on confidence is the metric's job, not the classifier's.
struct Prediction {
  std::string label = kUnknown;
  float confidence = 0;  // in [0, 1]; what it means depends on the classifier
};

struct OpenSetPoint {
  float threshold = 0;
  std::size_t genuine = 0, impostor = 0;
  std::size_t genuine_correct = 0;        // accepted with the right name
  std::size_t genuine_misidentified = 0;  // accepted with a wrong name
  std::size_t genuine_rejected = 0;
  std::size_t impostor_accepted = 0;
  double accuracy = 0, fpr = 0, fnr = 0;
  double misidentification = 0;  // genuine_misidentified / genuine
};

// truth[i] = the probe's person, or "" for an impostor (never enrolled). A set without genuine
// (or impostor) probes has rates 0 for them. InputError when the sizes differ.
OpenSetPoint evaluate_open_set(const std::vector<Prediction>& predictions,
                               const std::vector<std::string>& truth, float threshold);

// Thresholds 0.00, 0.01, ..., 1.00.
std::vector<OpenSetPoint> open_set_curve(const std::vector<Prediction>& predictions,
                                         const std::vector<std::string>& truth);

// The definitions above, as printed under every open-set result.
extern const char* const kOpenSetDefinitions;

}  // namespace clipface
