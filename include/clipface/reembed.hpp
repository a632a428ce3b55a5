// Changing a gallery's embedding model without losing names (`clipface reembed`): every face is
// embedded again with the new model, from its stored aligned crop where the new model looks at
// the same crop, else from its source image where the file is still there unchanged, else from
// the stored crop with the face found again in it. New vectors land beside the live ones, one
// transaction per batch, so a killed run resumes where it stopped and search keeps using the old
// model until the switch, which swaps models in one transaction; names, clusters and negative
// examples belong to faces and stay.
#pragma once

#include <cstddef>
#include <string>

#include "clipface/detect.hpp"
#include "clipface/embedder.hpp"
#include "clipface/gallery.hpp"

namespace clipface {

struct ReembedOptions {
  std::size_t batch = 32;    // faces per transaction
  bool switch_model = true;  // switch once every face has its new vector
  bool drop_failed = false;  // switch even if some faces could not be re-embedded (removing them)
  bool again = false;        // the gallery's own model again (repairs vectors from elsewhere)
  bool progress = true;
};

struct ReembedReport {
  std::size_t faces = 0;        // faces in the gallery
  std::size_t done_before = 0;  // re-embedded by an earlier, interrupted run
  std::size_t from_crop = 0, from_image = 0, from_crop_redetected = 0;
  std::size_t failed = 0;  // this run
  bool switched = false;
  ReembedSwitch result;  // when switched
  double seconds = 0;
};

// `spec` is stored so an interrupted run can be resumed with the same model. `detector` finds
// the face again in stored crops of another crop style (nullptr: such faces fail).
// GalleryError when another re-embedding is in progress, InputError when `embedder` is the
// gallery's own model.
ReembedReport reembed_gallery(Gallery& gallery, const Embedder& embedder, const std::string& spec,
                              const Detector* detector, const ReembedOptions& options);

}  // namespace clipface
