#include "clipface/reembed.hpp"

#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <filesystem>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/progress.hpp"

namespace clipface {
namespace {

std::string base_style(const std::string& crop_style) {
  const auto plus = crop_style.find('+');
  return plus == std::string::npos ? crop_style : crop_style.substr(0, plus);
}

cv::Mat decode_crop(const std::string& png) {
  if (png.empty()) return {};
  const std::vector<unsigned char> bytes(png.begin(), png.end());
  try {
    return decode_image(bytes, "stored crop");
  } catch (const ImageError&) {
    return {};
  }
}

bool source_unchanged(const ReembedWork& w) {
  std::error_code ec;
  if (w.image_path.empty() || !std::filesystem::is_regular_file(w.image_path, ec)) return false;
  try {
    return sha256_file(w.image_path) == w.image_sha256;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

ReembedReport reembed_gallery(Gallery& gallery, const Embedder& embedder, const std::string& spec,
                              const Detector* detector, const ReembedOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const EmbedderInfo& target = embedder.info();
  const EmbedderInfo old = gallery.model();
  gallery.begin_reembed(target, spec, options.again);
  // The stored crop is exactly what the new model looks at when it crops the same way.
  const bool same_crop = base_style(old.crop_style) == base_style(target.crop_style) &&
                         old.input_size == target.input_size;

  ReembedReport report;
  ReembedState state = gallery.reembed_state();
  report.faces = state.faces;
  report.done_before = state.done + state.failed;
  ProgressBar bar("re-embedding", state.faces, options.progress);
  bar.update(report.done_before);
  const std::size_t batch = std::max<std::size_t>(1, options.batch);
  for (;;) {
    const auto work = gallery.reembed_pending(batch);
    if (work.empty()) break;
    std::vector<ReembedVector> out;
    std::vector<cv::Mat> crops;
    std::vector<std::size_t> slot;  // out row of each crop
    for (const ReembedWork& w : work) {
      ReembedVector v;
      v.face_id = w.face_id;
      cv::Mat crop;
      const cv::Mat stored = decode_crop(w.crop_png);
      if (same_crop && !stored.empty()) {
        crop = stored;
        v.source = "stored crop";
        ++report.from_crop;
      } else if (source_unchanged(w)) {
        try {
          crop = embedder.crops(load_image(w.image_path), {w.face}).at(0);
          v.source = "source image";
          ++report.from_image;
        } catch (const Error&) {
          crop.release();
        }
      }
      if (crop.empty() && !stored.empty() && detector) {
        const auto faces = detector->detect(stored);
        const int pick = pick_face(faces, stored.size(), FacePick::nearest_centre);
        if (pick >= 0) {
          crop = embedder.crops(stored, {faces[pick]}).at(0);
          v.source = "stored crop (face found again in it)";
          ++report.from_crop_redetected;
        }
      }
      if (crop.empty()) {
        v.source =
            w.crop_png.empty()
                ? "no crop stored, and " + w.image_path + " is gone or changed"
                : "no face found in the stored crop, and " + w.image_path + " is gone or changed";
        ++report.failed;
      } else {
        slot.push_back(out.size());
        crops.push_back(std::move(crop));
      }
      out.push_back(std::move(v));
    }
    if (!crops.empty()) {
      const Matrix vectors = embedder.embed_crops(crops);
      for (std::size_t i = 0; i < slot.size(); ++i) {
        const auto row = vectors.row(i);
        out[slot[i]].vector.assign(row.begin(), row.end());
      }
    }
    gallery.store_reembedded(target, out);  // one transaction per batch
    bar.advance(out.size());
  }
  bar.finish();
  if (options.switch_model) {
    report.result = gallery.switch_model(options.drop_failed);
    report.switched = true;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace clipface
