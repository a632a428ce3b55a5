#include <opencv2/imgcodecs.hpp>

#include <chrono>
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
    std::string sha;
    try {
      sha = sha256_file(path);
    } catch (const InputError&) {
      load_image(path);  // says what is wrong with the file as an image (missing, unreadable)
      throw;
    }
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
    Enrollment e;
    e.person = person;
    e.image_path = path.string();
    e.image_sha256 = sha;
    e.image_width = found.size.width;
    e.image_height = found.size.height;
    e.face = found.faces[0];
    const auto row = found.embeddings.row(0);
    e.embedding.assign(row.begin(), row.end());
    if (options.store_crops) e.crop_png = png_bytes(found.crops[0]);
    out.face = std::move(e);
  } catch (const Error& error) {
    // ImageError (unreadable) and InputError (e.g. a file that cannot be hashed) skip the image;
    // model and gallery errors end the run.
    if (!dynamic_cast<const ImageError*>(&error) && !dynamic_cast<const InputError*>(&error)) {
      throw;
    }
    out.skipped = SkippedImage{path, error.reason(), error.exit_code()};
  }
  return out;
}

}  // namespace

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

}  // namespace clipface
