// A gallery's health (`clipface doctor GALLERY`): the problems the studies found by hand, found
// by reading the gallery's own vectors. Faces far from the rest of their person (likely
// mislabelled; the per-class outlier trimming of NVR systems), two names that are probably one
// person, people with too few, duplicated or all-alike photos, faces below the quality bar,
// embeddings that do not come from the gallery's model, and what waits for someone (unlabelled
// faces, name proposals, a missing or stale calibration, an unfinished re-embedding). Every
// finding names the faces and files to look at and the command that fixes it.
//
// Distances are read against the gallery's own vote threshold T (the L2 distance below which
// identify lets a face vote: "the same person" in this embedding space).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "clipface/embedder.hpp"
#include "clipface/gallery.hpp"

namespace clipface {

enum class Severity { info, warning, problem };
std::string to_string(Severity severity);

struct Finding {
  std::string kind;  // mislabelled, same_person, few_photos, duplicate_photos, alike_photos,
                     // low_quality, no_quality, other_model, integrity, reembed, unlabelled,
                     // proposal, not_calibrated, stale_calibration
  Severity severity = Severity::warning;
  std::string message;  // one readable sentence
  std::string fix;      // the command that fixes it ("" when there is none to run)
  std::vector<std::string> people;
  std::vector<std::int64_t> faces;  // faces to look at
  std::vector<std::string> files;   // their source images, in the same order
  double score = 0;                 // the number behind it (a distance, a cosine, a count)
};

struct HealthOptions {
  // A face is likely mislabelled when it is farther than T from the mean of its person's other
  // photos and an outlier among them (more than 3 robust deviations above their median).
  float outlier_deviations = 3;
  int min_photos = 3;              // fewer: "too few photos"
  float duplicate_factor = 0.25f;  // two photos closer than this x T: the same photo twice
  float alike_factor = 0.5f;       // every pair closer than this x T: one occasion only
  std::size_t model_sample = 16;   // faces whose stored crop is embedded again (needs embedder)
  std::size_t people_listed = 50;  // people named in an aggregated finding's message
};

struct HealthReport {
  std::string gallery;
  EmbedderInfo model;
  float threshold = 0;  // T
  std::size_t people = 0, faces = 0, labelled = 0, unlabelled = 0, clusters = 0;
  std::vector<Finding> findings;  // problems first, then warnings, then notes
  std::size_t count(Severity severity) const;
};

// `embedder` (of the gallery's model, nullptr to skip) re-embeds a sample of stored crops to
// check that the stored vectors come from this model; `embedder_spec` is how commands name it.
HealthReport check_health(const Gallery& gallery, const HealthOptions& options = {},
                          const Embedder* embedder = nullptr,
                          const std::string& embedder_spec = "");

nlohmann::json to_json(const HealthReport& report);
std::string to_text(const HealthReport& report);
// DIR/index.html with the crops of the faces each finding names (DIR/face_<id>.png). Returns
// the page. InputError naming a file that cannot be written.
std::filesystem::path write_health_page(const HealthReport& report, const Gallery& gallery,
                                        const std::filesystem::path& dir);

}  // namespace clipface
