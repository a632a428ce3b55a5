#include <opencv2/imgcodecs.hpp>

#include <chrono>
#include <cstdio>
#include <optional>

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

// The sha256 of an image file; a file that cannot be hashed says what is wrong with it as an
// image (missing, unreadable) where it can.
std::string image_sha256(const std::filesystem::path& path) {
  try {
    return sha256_file(path);
  } catch (const InputError&) {
    load_image(path);
    throw;
  }
}

// ImageError (unreadable) and InputError (e.g. a file that cannot be hashed) skip the image;
// model and gallery errors end the run (rethrown: called only from a catch block).
// Why face i may not be enrolled: below the quality bar ("low quality: <why>") or judged a spoof
// by the pipeline's anti-spoofing gate; "" when it may.
std::string rejection(const ImageFaces& found, std::size_t i, const QualityBar& bar) {
  const std::string low = quality_problems(found.quality[i], bar);
  if (!low.empty()) return "low quality: " + low;
  if (i < found.analysis.size() && found.analysis[i].is_spoof()) {
    const SpoofCheck& check = *found.analysis[i].spoof;
    char reason[96];
    std::snprintf(reason, sizeof reason, "spoof (real score %.2f < %.2f)", check.real,
                  check.threshold);
    return reason;
  }
  return "";
}

SkippedImage skipped_for(const std::filesystem::path& path, const Error& error) {
  if (!dynamic_cast<const ImageError*>(&error) && !dynamic_cast<const InputError*>(&error)) {
    throw;
  }
  return SkippedImage{path, error.reason(), error.exit_code()};
}

// The enrollment of one image, or why it cannot be enrolled.
struct Prepared {
  std::optional<Enrollment> face;
  std::optional<SkippedImage> skipped;
  bool already_enrolled = false;
};

Prepared prepare(const GalleryTarget& target, const FacePipeline& pipeline,
                 const std::string& person, const std::filesystem::path& path,
                 const EnrollOptions& options) {
  Prepared out;
  try {
    const std::string sha = image_sha256(path);
    const Gallery* gallery = target.existing();
    if (options.skip_enrolled && gallery && gallery->contains_image(sha)) {
      out.already_enrolled = true;
      return out;
    }
    const ImageFaces found = pipeline.process_file(path);
    if (found.faces.size() != 1) {
      out.skipped = SkippedImage{
          path, found.faces.empty() ? "no face" : std::to_string(found.faces.size()) + " faces",
          InputError("").exit_code()};
      return out;
    }
    const std::string why = rejection(found, 0, options.quality);
    if (!why.empty()) {
      out.skipped = SkippedImage{path, why, InputError("").exit_code()};
      return out;
    }
    out.face = enrollment_of(found, 0, person, sha, options.store_crops);
  } catch (const Error& error) {
    out.skipped = skipped_for(path, error);
  }
  return out;
}

}  // namespace

FaceCountError::FaceCountError(const std::string& image, int faces)
    : InputError(faces == 0
                     ? "no face found in " + image
                     : image + " shows " + std::to_string(faces) + " faces where one was expected"),
      faces_(faces) {}

EnrolledFace enroll_image(Gallery& gallery, const FacePipeline& pipeline, const std::string& person,
                          const cv::Mat& image, const std::string& name, const std::string& sha256,
                          const FaceFilter& filter, const QualityBar& quality, bool store_crop) {
  const EmbedderInfo& model = pipeline.embedder().info();
  gallery.require_model(model);
  const ImageFaces found = pipeline.process(image, filter);
  if (found.faces.size() != 1) throw FaceCountError(name, static_cast<int>(found.faces.size()));
  const std::string low = quality_problems(found.quality.at(0), quality);
  if (!low.empty()) throw InputError(name + ": low quality: " + low);
  EnrolledFace out;
  Enrollment e = enrollment_of(found, 0, person, sha256, store_crop);
  e.image_path = name;  // the image came from memory
  out.face_id = gallery.enroll(model, {e}).at(0);
  out.face = found.faces[0];
  out.crop = found.crops[0];
  return out;
}

Gallery& GalleryTarget::for_writing(const EmbedderInfo& model) {
  if (!gallery_) {
    created_ = std::make_unique<Gallery>(Gallery::create(dir_, model, options_));
    gallery_ = created_.get();
  }
  return *gallery_;
}

EnrollReport enroll_people(GalleryTarget& target, const FacePipeline& pipeline,
                           const std::vector<PersonImages>& people, const EnrollOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const EmbedderInfo& model = pipeline.embedder().info();
  if (const Gallery* gallery = target.existing()) gallery->require_model(model);
  std::size_t total = 0;
  for (const auto& p : people) total += p.images.size();

  EnrollReport report;
  std::vector<std::vector<Enrollment>> held;  // strict: everything, written at the end
  ProgressBar bar("enrolling", total, options.progress);
  for (const auto& person : people) {
    std::vector<Enrollment> batch;
    for (const auto& path : person.images) {
      ++report.images;
      bar.advance(1, person.person);
      Prepared p = prepare(target, pipeline, person.person, path, options);
      if (p.already_enrolled) report.already_enrolled.push_back(path);
      if (p.skipped) report.skipped.push_back(std::move(*p.skipped));
      if (p.face) batch.push_back(std::move(*p.face));
    }
    if (batch.empty()) continue;
    report.faces += static_cast<int>(batch.size());
    ++report.people;
    if (options.strict) {
      held.push_back(std::move(batch));
    } else {
      target.for_writing(model).enroll(model, batch);  // one transaction per person
      report.written = true;
    }
  }
  bar.finish();
  if (options.strict && !report.skipped.empty()) {
    std::vector<SkippedInputsError::Input> skipped;
    for (const auto& s : report.skipped)
      skipped.push_back({s.path.string(), s.reason, s.exit_code});
    throw SkippedInputsError(std::move(skipped), total);
  }
  if (options.strict && !held.empty()) {
    std::vector<Enrollment> all;
    for (auto& batch : held) {
      for (auto& e : batch) all.push_back(std::move(e));
    }
    target.for_writing(model).enroll(model, all);  // one transaction: all or nothing
    report.written = true;
  }
  if (report.written) target.for_writing(model).flush();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

EnrollReport enroll_unlabelled(GalleryTarget& target, const FacePipeline& pipeline,
                               const std::vector<std::filesystem::path>& images,
                               const EnrollOptions& options, bool strangers) {
  constexpr std::size_t kImagesPerTransaction = 32;
  const auto start = std::chrono::steady_clock::now();
  const EmbedderInfo& model = pipeline.embedder().info();
  if (const Gallery* gallery = target.existing()) gallery->require_model(model);
  EnrollReport report;
  ProgressBar bar(strangers ? "adding strangers" : "adding unlabelled faces", images.size(),
                  options.progress);
  std::vector<Enrollment> batch;
  std::size_t batch_images = 0;
  const auto commit = [&] {
    if (!batch.empty()) {
      target.for_writing(model).add_unlabelled(model, batch, strangers);
      report.written = true;
    }
    batch.clear();
    batch_images = 0;
  };
  for (const auto& path : images) {
    ++report.images;
    bar.advance(1, path.filename().string());
    try {
      const std::string sha = image_sha256(path);
      const Gallery* gallery = target.existing();
      if (options.skip_enrolled && gallery && gallery->contains_image(sha)) {
        report.already_enrolled.push_back(path);
        continue;
      }
      const ImageFaces found = pipeline.process_file(path);
      if (found.faces.empty()) {
        report.skipped.push_back({path, "no face", InputError("").exit_code()});
        continue;
      }
      std::vector<std::string> low(found.faces.size());
      std::size_t kept = 0;
      for (std::size_t i = 0; i < found.faces.size(); ++i) {
        low[i] = rejection(found, i, options.quality);
        if (!low[i].empty()) continue;
        batch.push_back(enrollment_of(found, i, "", sha, options.store_crops));
        ++kept;
      }
      report.faces += static_cast<int>(kept);
      const int bad_data = InputError("").exit_code();
      if (kept == 0 && found.faces.size() == 1) {
        report.skipped.push_back({path, low[0], bad_data});
      } else if (kept == 0) {
        report.skipped.push_back(
            {path, "none of its " + std::to_string(found.faces.size()) + " faces is good enough",
             bad_data});
      }
      for (std::size_t i = 0; i < low.size(); ++i) {
        if (kept > 0 && !low[i].empty()) {
          report.skipped_faces.push_back(
              {path, "face " + std::to_string(i) + ": " + low[i], bad_data});
        }
      }
      if (kept == 0) continue;
      if (++batch_images >= kImagesPerTransaction && !options.strict) commit();
    } catch (const Error& error) {
      report.skipped.push_back(skipped_for(path, error));
    }
  }
  bar.finish();
  if (options.strict && !report.skipped.empty()) {
    std::vector<SkippedInputsError::Input> skipped;
    for (const auto& s : report.skipped)
      skipped.push_back({s.path.string(), s.reason, s.exit_code});
    throw SkippedInputsError(std::move(skipped), images.size());
  }
  commit();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::vector<std::int64_t> remember_faces(Gallery& gallery, const EmbedderInfo& model,
                                         const Identification& identification,
                                         const std::string& image_sha256) {
  if (identification.faces.empty() || gallery.contains_image(image_sha256)) return {};
  std::vector<Enrollment> faces;
  for (std::size_t i = 0; i < identification.faces.size(); ++i) {
    const NamedFace& named = identification.faces[i];
    if (named.analysis.is_spoof()) continue;  // a spoof is never kept, not even unlabelled
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
  if (faces.empty()) return {};
  return gallery.add_unlabelled(model, faces);
}

}  // namespace clipface
