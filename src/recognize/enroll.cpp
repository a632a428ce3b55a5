#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <cstdio>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/progress.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {
namespace {

std::string png_bytes(const cv::Mat& crop) {
  std::vector<unsigned char> buffer;
  cv::imencode(".png", crop, buffer);
  return {buffer.begin(), buffer.end()};
}

}  // namespace

EnrollReport enroll_people(Gallery& gallery, const FacePipeline& pipeline,
                           const std::vector<PersonImages>& people, const EnrollOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const EmbedderInfo& model = pipeline.embedder().info();
  gallery.require_model(model);
  std::size_t total = 0;
  for (const auto& p : people) total += p.images.size();

  EnrollReport report;
  ProgressBar bar("enrolling", total, options.progress);
  for (const auto& person : people) {
    std::vector<Enrollment> batch;
    for (const auto& path : person.images) {
      ++report.images;
      bar.advance(1, person.person);
      try {
        const std::string sha = sha256_file(path);
        if (options.skip_enrolled && gallery.contains_image(sha)) {
          report.skipped.push_back({path, "already enrolled"});
          continue;
        }
        const ImageFaces found = pipeline.process_file(path);
        if (found.faces.size() != 1) {
          report.skipped.push_back({path, found.faces.empty()
                                              ? "no face"
                                              : std::to_string(found.faces.size()) + " faces"});
          continue;
        }
        if (!found.analysis.empty() && found.analysis[0].is_spoof()) {
          const SpoofCheck& check = *found.analysis[0].spoof;
          char reason[96];
          std::snprintf(reason, sizeof reason, "spoof (real score %.2f < %.2f)", check.real,
                        check.threshold);
          report.skipped.push_back({path, reason});
          continue;
        }
        Enrollment e;
        e.person = person.person;
        e.image_path = path.string();
        e.image_sha256 = sha;
        e.image_width = found.size.width;
        e.image_height = found.size.height;
        e.face = found.faces[0];
        const auto row = found.embeddings.row(0);
        e.embedding.assign(row.begin(), row.end());
        if (options.store_crops) e.crop_png = png_bytes(found.crops[0]);
        batch.push_back(std::move(e));
      } catch (const ImageError& error) {
        report.skipped.push_back({path, error.what()});
      } catch (const InputError& error) {
        report.skipped.push_back({path, error.what()});
      }
    }
    if (batch.empty()) continue;
    gallery.enroll(model, batch);  // one transaction per person
    report.faces += static_cast<int>(batch.size());
    ++report.people;
  }
  bar.finish();
  gallery.flush();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace clipface
