#include <opencv2/imgcodecs.hpp>

#include <chrono>

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

// One face of a processed image, ready to store.
Enrollment enrollment_of(const ImageFaces& found, std::size_t i, const std::string& person,
                         const std::string& sha, bool store_crop) {
  Enrollment e;
  e.person = person;
  e.image_path = found.path.string();
  e.image_sha256 = sha;
  e.image_width = found.size.width;
  e.image_height = found.size.height;
  e.face = found.faces[i];
  e.face_index = static_cast<int>(i);
  const auto row = found.embeddings.row(i);
  e.embedding.assign(row.begin(), row.end());
  if (store_crop) e.crop_png = png_bytes(found.crops[i]);
  e.quality = found.quality.at(i);
  return e;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
        const std::string low = quality_problems(found.quality[0], options.quality);
        if (!low.empty()) {
          report.skipped.push_back({path, "low quality: " + low});
          continue;
        }
        batch.push_back(enrollment_of(found, 0, person.person, sha, options.store_crops));
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
  report.seconds = seconds_since(start);
  return report;
}

EnrollReport enroll_unlabelled(Gallery& gallery, const FacePipeline& pipeline,
                               const std::vector<std::filesystem::path>& images,
                               const EnrollOptions& options, bool strangers) {
  constexpr std::size_t kImagesPerTransaction = 32;
  const auto start = std::chrono::steady_clock::now();
  const EmbedderInfo& model = pipeline.embedder().info();
  gallery.require_model(model);
  EnrollReport report;
  ProgressBar bar(strangers ? "adding strangers" : "adding unlabelled faces", images.size(),
                  options.progress);
  std::vector<Enrollment> batch;
  std::size_t batch_images = 0;
  const auto commit = [&] {
    if (!batch.empty()) gallery.add_unlabelled(model, batch, strangers);
    report.faces += static_cast<int>(batch.size());
    batch.clear();
    batch_images = 0;
  };
  for (const auto& path : images) {
    ++report.images;
    bar.advance(1, path.filename().string());
    try {
      const std::string sha = sha256_file(path);
      if (options.skip_enrolled && gallery.contains_image(sha)) {
        report.skipped.push_back({path, "already in the gallery"});
        continue;
      }
      const ImageFaces found = pipeline.process_file(path);
      if (found.faces.empty()) {
        report.skipped.push_back({path, "no face"});
        continue;
      }
      for (std::size_t i = 0; i < found.faces.size(); ++i) {
        const std::string low = quality_problems(found.quality[i], options.quality);
        if (!low.empty()) {
          report.skipped.push_back({path, "face " + std::to_string(i) + ": low quality: " + low});
          continue;
        }
        batch.push_back(enrollment_of(found, i, "", sha, options.store_crops));
      }
      if (++batch_images >= kImagesPerTransaction) commit();
    } catch (const ImageError& error) {
      report.skipped.push_back({path, error.what()});
    } catch (const InputError& error) {
      report.skipped.push_back({path, error.what()});
    }
  }
  commit();
  bar.finish();
  report.seconds = seconds_since(start);
  return report;
}

std::vector<std::int64_t> remember_faces(Gallery& gallery, const EmbedderInfo& model,
                                         const Identification& identification,
                                         const std::string& image_sha256) {
  if (identification.faces.empty() || gallery.contains_image(image_sha256)) return {};
  std::vector<Enrollment> faces;
  for (std::size_t i = 0; i < identification.faces.size(); ++i) {
    const NamedFace& named = identification.faces[i];
    Enrollment e;
    e.image_path = identification.path.string();
    e.image_sha256 = image_sha256;
    e.image_width = identification.size.width;
    e.image_height = identification.size.height;
    e.face = named.face;
    e.face_index = static_cast<int>(i);
    e.embedding = named.embedding;
    if (!named.crop.empty()) e.crop_png = png_bytes(named.crop);
    e.quality = named.quality;
    faces.push_back(std::move(e));
  }
  return gallery.add_unlabelled(model, faces);
}

}  // namespace clipface
