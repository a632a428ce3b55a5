// Labelled face folders (DIR/<person>/*) and their embeddings, computed once and cached on disk.
//
// One embedding per image: the detected face nearest the image centre (LFW and most face sets
// centre the subject, and other people at the edges are often detected with higher scores), or the
// largest face when asked. Images where no face is found, or that cannot be read, are kept in the
// result's `failures` list and counted by every protocol; they are never silently dropped.
//
// Cache: CACHE/<space key>/<sha256 of the file's bytes>.npy, one float record per image:
//   [found, box x, y, w, h, 10 landmark coordinates, detector score, embed seconds, embedding...]
// The space key is a sha256 of the EmbedderInfo (name, checksum, crop style, dim), the embedder's
// test-time options, the detector settings and the face pick, so a change in any of them starts a
// fresh folder. Records are written atomically, so an interrupted run leaves no half file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "clipface/detect.hpp"
#include "clipface/embedder.hpp"
#include "clipface/matrix.hpp"

namespace clipface::eval {

struct LabelledImage {
  std::filesystem::path path;
  std::string person;
};

// Images of DIR/<person>/* (not recursive below the person folder), sorted by person then path.
// Folders whose name starts with '_' or '.' (e.g. `_group` of multi-person photos) are skipped.
// Throws InputError when DIR is missing or holds no labelled image.
std::vector<LabelledImage> list_labelled_images(const std::filesystem::path& dir);

// $CLIPFACE_HOME/cache/embeddings.
std::filesystem::path default_cache_dir();

struct EmbedSettings {
  DetectorOptions detector;
  FacePick pick = FacePick::nearest_centre;
  std::filesystem::path cache_dir = default_cache_dir();
  bool use_cache = true;
  bool flip_average = false;  // part of the cache key (the embedder was made with this option)
  bool progress = true;
  std::string progress_label = "embedding";
  // Throw SkippedInputsError (listing them all) when any image has no embedding, before a
  // protocol writes anything.
  bool strict = false;
};

// Why an image has no embedding.
struct EmbedFailure {
  LabelledImage image;
  std::string reason;  // "no face" or the ImageError message
  int exit_code = 2;   // 3 for an unreadable image, 2 for no face (the CLI's codes)
};

struct EmbeddedSet {
  EmbedderInfo info;
  std::vector<LabelledImage> images;      // those with an embedding, in input order
  Matrix embeddings;                      // one unit row per entry of `images`
  std::vector<Face> faces;                // the face each row came from (original image pixels)
  std::vector<double> embed_seconds;      // detection + embedding time when it was computed
  std::vector<std::size_t> source_index;  // index of each row's image in the input list
  std::vector<EmbedFailure> failures;
  std::size_t computed = 0;  // images detected and embedded in this run
  std::size_t cached = 0;    // images read from the cache

  std::size_t size() const { return images.size(); }
  std::size_t attempted() const { return images.size() + failures.size(); }
  double detection_rate() const;
  // Person names as dense ids (sorted names -> 0..n-1), and the names.
  std::vector<int> label_ids(std::vector<std::string>* names = nullptr) const;
};

// The cache folder of one embedding space (see the file comment).
std::filesystem::path cache_space_dir(const EmbedSettings& settings, const EmbedderInfo& info,
                                      const std::string& detector_name);

// Detects, picks, embeds (or reads the cache). Unreadable images and images without a face go to
// `failures`. Throws InputError when the cache folder cannot be created.
EmbeddedSet embed_images(const std::vector<LabelledImage>& images, const Embedder& embedder,
                         const Detector& detector, const EmbedSettings& settings);

// "RANDOM WEIGHTS — plumbing only, not accuracy" for random-weight models, "" otherwise.
std::string random_weights_warning(const EmbedderInfo& info);
inline constexpr const char* kRandomWeightsWarning =
    "RANDOM WEIGHTS \xE2\x80\x94 plumbing only, not accuracy";

}  // namespace clipface::eval
