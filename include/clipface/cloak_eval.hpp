// `clipface eval cloak`: do cloaks keep people from being found, by which models, and what does
// a simple defence take back? Two protocols on a labelled folder DIR/<person>/*, each for every
// victim embedder, every model the cloaks are made on (the transfer matrix) and every defence:
//
// - the zero-shot retrieval study's: every image of every person is searchable, embedded with
//   the victim model G. A query is one photo of a person with enough photos; its own-identity
//   threshold is the 95th percentile of its distances to that person's other photos, and a valid
//   result is a photo of the same person within that threshold among the 50 nearest. Among the
//   queries with at least 3 valid results when clean, the share that still has at least one when
//   the query is cloaked: by fawkes, by lowkey, and by both (lowkey applied over fawkes).
// - Fawkes' own threat model: a person's enrollment photos are cloaked, their other photos are
//   queried clean; top-1 identification over every evaluated person's enrollment photos, before
//   and after (one person cloaked at a time, the others clean).
//
// Defences are applied by the searcher/trainer to the cloaked photos before embedding: JPEG
// re-compression and a light Gaussian blur.
#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clipface/cloak.hpp"
#include "clipface/eval/dataset.hpp"

namespace clipface::cloak {

struct CloakEvalOptions {
  std::vector<Method> methods{Method::fawkes, Method::lowkey};
  Level level = Level::mid;
  std::vector<std::string> surrogates{"dlib"};  // each makes its own cloaks
  std::vector<std::string> victims{"dlib"};     // embedder specs measured
  std::optional<int> steps;                     // override of the level's
  std::size_t min_images = 5;          // people with at least this many photos are evaluated
  std::size_t max_people = 0;          // 0 = all who qualify (first by name otherwise)
  std::size_t max_target_people = 50;  // fawkes' candidate identities: the other people
  std::filesystem::path targets;       // or a folder of other people to take them from
  double enroll_fraction = 0.5;        // Fawkes protocol: share of a person's photos enrolled
  std::size_t top_k = 50;
  double percentile = 95;
  std::size_t min_valid = 3;
  int jpeg_quality = 75;
  double blur_sigma = 1.0;
  eval::EmbedSettings embed;  // detector, face pick, cache of the clean embeddings
  RuntimeOptions runtime;
  std::filesystem::path output_dir = ".";  // CSV files and PNG charts
  bool progress = true;
};

struct CloakEvalOutput {
  nlohmann::json json;
  std::string text;                          // the printed tables
  std::vector<std::filesystem::path> files;  // CSV and PNG written
};

// Throws InputError for bad options or a folder with too few people, ModelError for models.
CloakEvalOutput run_cloak_eval(const std::filesystem::path& dir, const CloakEvalOptions& options);

// The q-th percentile (0..100) with linear interpolation between order statistics (numpy's
// default). InputError for an empty list.
double percentile(std::vector<double> values, double q);

}  // namespace clipface::cloak
