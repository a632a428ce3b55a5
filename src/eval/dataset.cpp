#include "clipface/eval/dataset.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/npy.hpp"
#include "clipface/paths.hpp"
#include "clipface/progress.hpp"

namespace clipface::eval {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHeader = 17;  // found, box (4), landmarks (10), score, seconds
constexpr std::size_t kBatch = 32;

std::vector<float> encode_record(const Face* face, double seconds, std::span<const float> emb) {
  std::vector<float> record(kHeader, 0.0f);
  record[16] = static_cast<float>(seconds);
  if (!face) return record;
  record[0] = 1;
  record[1] = face->box.x;
  record[2] = face->box.y;
  record[3] = face->box.width;
  record[4] = face->box.height;
  for (int i = 0; i < 5; ++i) {
    record[5 + 2 * i] = face->landmarks[i].x;
    record[6 + 2 * i] = face->landmarks[i].y;
  }
  record[15] = face->score;
  record.insert(record.end(), emb.begin(), emb.end());
  return record;
}

struct Record {
  bool found = false;
  Face face;
  double seconds = 0;
  std::vector<float> embedding;
};

// A record that does not fit this space (wrong length) reads as absent and is recomputed.
bool decode_record(const std::vector<float>& values, int dim, Record& out) {
  if (values.size() < kHeader) return false;
  out.found = values[0] != 0;
  out.seconds = values[16];
  if (!out.found) return values.size() == kHeader;
  if (values.size() != kHeader + static_cast<std::size_t>(dim)) return false;
  out.face.box = {values[1], values[2], values[3], values[4]};
  for (int i = 0; i < 5; ++i) out.face.landmarks[i] = {values[5 + 2 * i], values[6 + 2 * i]};
  out.face.score = values[15];
  out.embedding.assign(values.begin() + kHeader, values.end());
  return true;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::vector<LabelledImage> list_labelled_images(const fs::path& dir) {
  const std::vector<fs::path> people = list_person_folders(dir);
  std::vector<LabelledImage> images;
  for (const auto& person : people) {
    for (auto& path : list_images(person, false)) {
      images.push_back({std::move(path), person.filename().string()});
    }
  }
  if (images.empty()) {
    throw InputError("no labelled images in '" + dir.string() +
                     "' (expected DIR/<person>/<image files>)");
  }
  return images;
}

fs::path default_cache_dir() {
  return clipface_home() / "cache" / "embeddings";
}

double EmbeddedSet::detection_rate() const {
  return attempted() ? static_cast<double>(images.size()) / attempted() : 0.0;
}

std::vector<int> EmbeddedSet::label_ids(std::vector<std::string>* names) const {
  std::set<std::string> unique;
  for (const auto& image : images) unique.insert(image.person);
  std::map<std::string, int> id;
  std::vector<std::string> ordered(unique.begin(), unique.end());
  for (std::size_t i = 0; i < ordered.size(); ++i) id[ordered[i]] = static_cast<int>(i);
  std::vector<int> labels;
  labels.reserve(images.size());
  for (const auto& image : images) labels.push_back(id[image.person]);
  if (names) *names = std::move(ordered);
  return labels;
}

fs::path cache_space_dir(const EmbedSettings& settings, const EmbedderInfo& info,
                         const std::string& detector_name) {
  const auto& d = settings.detector;
  const std::string key =
      "embedder=" + info.name + "\nchecksum=" + info.checksum + "\ncrop_style=" + info.crop_style +
      "\ndim=" + std::to_string(info.dim) +
      "\nflip_average=" + (settings.flip_average ? "1" : "0") + "\ndetector=" + detector_name +
      "\nscore_threshold=" + number(d.score_threshold) +
      "\nnms_threshold=" + number(d.nms_threshold) + "\nmin_face_size=" + number(d.min_face_size) +
      "\nmax_side=" + std::to_string(d.max_side) + "\npick=" + to_string(settings.pick) + "\n";
  return settings.cache_dir / sha256_hex(key).substr(0, 24);
}

std::string random_weights_warning(const EmbedderInfo& info) {
  return info.random_weights ? kRandomWeightsWarning : "";
}

EmbeddedSet embed_images(const std::vector<LabelledImage>& images, const Embedder& embedder,
                         const Detector& detector, const EmbedSettings& settings) {
  EmbeddedSet set;
  set.info = embedder.info();
  const int dim = set.info.dim;
  // Random weights have no checksum to key on, so their vectors are never cached.
  const bool use_cache = settings.use_cache && !set.info.random_weights;
  fs::path space;
  if (use_cache) {
    space = cache_space_dir(settings, set.info, detector.name());
    std::error_code ec;
    fs::create_directories(space, ec);
    if (ec)
      throw InputError("cannot create cache folder '" + space.string() + "': " + ec.message());
    const fs::path key_file = space / "space.txt";
    if (!fs::exists(key_file)) {
      write_file_atomically(key_file, "embedder " + set.info.name + " (" + set.info.checksum +
                                          "), crop " + set.info.crop_style + ", detector " +
                                          detector.name() + ", pick " + to_string(settings.pick) +
                                          (settings.flip_average ? ", flip-average" : "") + "\n");
    }
  }

  std::vector<Record> records(images.size());
  std::vector<std::string> failure(images.size());
  std::vector<int> failure_code(images.size(), InputError("").exit_code());
  std::vector<std::string> hashes(images.size());

  // Pending work: crops waiting for one batched embed_crops call.
  std::vector<std::size_t> pending;
  std::vector<cv::Mat> pending_crops;
  auto flush = [&] {
    if (pending.empty()) return;
    const auto start = std::chrono::steady_clock::now();
    Matrix vectors = embedder.embed_crops(pending_crops);
    const double share =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
        static_cast<double>(pending.size());
    for (std::size_t j = 0; j < pending.size(); ++j) {
      Record& r = records[pending[j]];
      r.embedding.assign(vectors.row(j).begin(), vectors.row(j).end());
      r.seconds += share;
      if (use_cache) {
        write_npy(space / (hashes[pending[j]] + ".npy"),
                  encode_record(&r.face, r.seconds, vectors.row(j)),
                  {static_cast<std::int64_t>(kHeader + vectors.cols)});
      }
    }
    set.computed += pending.size();
    pending.clear();
    pending_crops.clear();
  };

  ProgressBar bar(settings.progress_label, images.size(), settings.progress);
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto& path = images[i].path;
    try {
      hashes[i] = sha256_file(path);
      const fs::path cached = space / (hashes[i] + ".npy");
      std::error_code ec;
      if (use_cache && fs::exists(cached, ec)) {
        Record r;
        if (decode_record(read_npy(cached).as_floats(), dim, r)) {
          records[i] = std::move(r);
          if (!records[i].found) failure[i] = "no face";
          ++set.cached;
          bar.advance();
          continue;
        }
      }
      const auto start = std::chrono::steady_clock::now();
      const cv::Mat image = load_image(path);
      const auto faces = detector.detect(image);
      const int chosen = pick_face(faces, image.size(), settings.pick);
      Record& r = records[i];
      if (chosen < 0) {
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        failure[i] = "no face";
        if (use_cache) {
          write_npy(cached, encode_record(nullptr, r.seconds, {}),
                    {static_cast<std::int64_t>(kHeader)});
        }
        ++set.computed;
      } else {
        r.found = true;
        r.face = faces[chosen];
        auto crops = embedder.crops(image, {r.face});
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        pending.push_back(i);
        pending_crops.push_back(std::move(crops.at(0)));
        if (pending.size() >= kBatch) flush();
      }
    } catch (const ImageError& e) {
      failure[i] = e.reason();
      failure_code[i] = e.exit_code();
    } catch (const InputError& e) {  // unreadable file (checksum)
      failure[i] = e.reason();
    }
    bar.advance();
  }
  flush();
  bar.finish();

  std::size_t rows = 0;
  for (std::size_t i = 0; i < images.size(); ++i) rows += failure[i].empty() ? 1 : 0;
  set.embeddings = Matrix(rows, static_cast<std::size_t>(dim));
  std::size_t row = 0;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (!failure[i].empty()) {
      set.failures.push_back({images[i], failure[i], failure_code[i]});
      continue;
    }
    std::copy(records[i].embedding.begin(), records[i].embedding.end(),
              set.embeddings.row(row).begin());
    set.images.push_back(images[i]);
    set.faces.push_back(records[i].face);
    set.embed_seconds.push_back(records[i].seconds);
    set.source_index.push_back(i);
    ++row;
  }
  if (!set.failures.empty()) {
    spdlog::debug("{} of {} images have no embedding", set.failures.size(), images.size());
  }
  if (settings.strict && !set.failures.empty()) {
    std::vector<SkippedInputsError::Input> skipped;
    for (const auto& f : set.failures) {
      skipped.push_back({f.image.path.string(), f.reason, f.exit_code});
    }
    throw SkippedInputsError(std::move(skipped), images.size());
  }
  return set;
}

}  // namespace clipface::eval
