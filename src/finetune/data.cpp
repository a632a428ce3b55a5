// Prompt templates, face folders -> cached embeddings, and the per-person split (no LibTorch).
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"
#include "clipface/image.hpp"
#include "clipface/progress.hpp"

namespace clipface::finetune {
namespace fs = std::filesystem;

namespace {

// Walks a template: calls `literal` for text and `field` for every `{}`. `{{` and `}}` are
// literal braces, as in Python's str.format (which the reference scripts use).
template <typename Literal, typename Field>
void walk_template(const std::string& t, Literal literal, Field field) {
  const std::string where = "prompt template '" + t + "'";
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char ch = t[i];
    if (ch == '{') {
      if (i + 1 < t.size() && t[i + 1] == '{') {
        literal('{');
        ++i;
      } else if (i + 1 < t.size() && t[i + 1] == '}') {
        field();
        ++i;
      } else {
        const std::size_t close = t.find('}', i);
        if (close == std::string::npos) throw InputError(where + ": unclosed '{'");
        throw InputError(where + ": unknown field '" + t.substr(i, close - i + 1) +
                         "' (only {} is filled in, with the person's name)");
      }
    } else if (ch == '}') {
      if (i + 1 < t.size() && t[i + 1] == '}') {
        literal('}');
        ++i;
      } else {
        throw InputError(where + ": single '}' (write '}}' for a literal brace)");
      }
    } else {
      literal(ch);
    }
  }
}

}  // namespace

void validate_template(const std::string& prompt_template) {
  int fields = 0;
  walk_template(
      prompt_template, [](char) {}, [&] { ++fields; });
  if (fields == 0) {
    throw InputError("prompt template '" + prompt_template +
                     "' has no {} field for the person's name");
  }
}

std::string fill_template(const std::string& prompt_template, const std::string& name) {
  validate_template(prompt_template);
  std::string out;
  walk_template(
      prompt_template, [&](char ch) { out += ch; }, [&] { out += name; });
  return out;
}

std::string display_name(const std::string& folder_name) {
  std::string out = folder_name;
  std::replace(out.begin(), out.end(), '_', ' ');
  std::replace(out.begin(), out.end(), '-', ' ');
  return out;
}

Loss parse_loss(const std::string& name) {
  if (name == "ce" || name == "cross-entropy" || name == "cross_entropy") {
    return Loss::cross_entropy;
  }
  if (name == "arcface") return Loss::arcface;
  if (name == "triplet") return Loss::triplet;
  throw InputError("unknown loss '" + name + "' (expected ce, arcface or triplet)");
}

std::string to_string(Loss loss) {
  switch (loss) {
    case Loss::cross_entropy:
      return "ce";
    case Loss::arcface:
      return "arcface";
    case Loss::triplet:
      return "triplet";
  }
  return "?";
}

void validate(const TrainOptions& o) {
  validate_template(o.prompt_template);
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw InputError(what);
  };
  require(o.epochs >= 1, "epochs must be at least 1");
  require(o.batch_size >= 1, "batch size must be at least 1");
  require(o.learning_rate > 0 && std::isfinite(o.learning_rate), "learning rate must be > 0");
  require(o.weight_decay >= 0, "weight decay must be >= 0");
  require(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "betas must be in [0, 1)");
  require(o.eps > 0, "eps must be > 0");
  require(o.arcface_scale > 0, "arcface scale must be > 0");
  require(o.arcface_margin >= 0 && o.arcface_margin < 1.5708,
          "arcface margin must be in [0, pi/2)");
  require(o.triplet_margin >= 0, "triplet margin must be >= 0");
  require(o.threads >= 0, "threads must be >= 0");
}

// ---------------------------------------------------------------------------------------------
// Faces -> embeddings.

namespace {

// Crops of the images (one per image with a usable face); failures go to `skipped`.
class CropMaker {
 public:
  CropMaker(const ClipModel& model, const FaceSetOptions& options)
      : options_(options), size_(model.info().image_size) {
    if (!options.cropped) detector_ = make_detector(options.detector);
  }

  bool crop(const fs::path& path, cv::Mat& out, std::string& reason) const {
    cv::Mat image;
    try {
      image = load_image(path);
    } catch (const ImageError& e) {
      reason = e.what();
      return false;
    }
    if (options_.cropped) {
      out = image;  // squash-resized by the encoder
      return true;
    }
    const std::vector<Face> faces = detector_->detect(image);
    const int pick = pick_face(faces, image.size(), FacePick::nearest_centre);
    if (pick < 0) {
      reason = "no face";
      return false;
    }
    out = align_face(image, faces[static_cast<std::size_t>(pick)], size_, options_.crop_style);
    return true;
  }

 private:
  FaceSetOptions options_;
  int size_;
  std::unique_ptr<Detector> detector_;
};

void append_rows(Matrix& to, const Matrix& rows) {
  if (to.cols == 0) to.cols = rows.cols;
  to.data.insert(to.data.end(), rows.data.begin(), rows.data.end());
  to.rows += rows.rows;
}

}  // namespace

FaceSet embed_face_folders(const ClipModel& model, const fs::path& dir,
                           const FaceSetOptions& options) {
  const std::vector<fs::path> people = list_person_folders(dir);
  if (people.size() < 2) {
    throw InputError(dir.string() + ": fine-tuning needs at least two person folders (found " +
                     std::to_string(people.size()) +
                     "); with one person there is nothing to "
                     "contrast");
  }
  std::vector<std::vector<fs::path>> images;
  std::size_t total = 0;
  for (const auto& person : people) {
    images.push_back(list_images(person, /*recursive=*/false));
    total += images.back().size();
  }

  FaceSet set;
  set.cropped = options.cropped;
  set.crop_style = options.crop_style;
  const CropMaker maker(model, options);
  ProgressBar bar("embedding faces", total, options.progress);
  for (std::size_t p = 0; p < people.size(); ++p) {
    std::vector<cv::Mat> crops;
    std::vector<std::string> paths;
    for (const auto& path : images[p]) {
      cv::Mat crop;
      std::string reason;
      if (maker.crop(path, crop, reason)) {
        crops.push_back(std::move(crop));
        paths.push_back(path.string());
      } else {
        set.skipped.push_back(path.string() + ": " + reason);
      }
      bar.advance();
    }
    if (crops.empty()) {
      throw InputError(people[p].string() + ": no usable face in " +
                       std::to_string(images[p].size()) + " image(s)");
    }
    append_rows(set.embeddings, model.encode_images(crops, ImageResize::squash, true));
    set.classes.push_back(people[p].filename().string());
    for (auto& path : paths) {
      set.paths.push_back(std::move(path));
      set.labels.push_back(static_cast<int>(p));
    }
  }
  bar.finish();
  return set;
}

FaceSet embed_images(const ClipModel& model, const std::vector<fs::path>& inputs,
                     const FaceSetOptions& options) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    if (fs::is_directory(input)) {
      for (auto& f : list_images(input, /*recursive=*/true)) files.push_back(std::move(f));
    } else {
      files.push_back(input);
    }
  }
  FaceSet set;
  set.cropped = options.cropped;
  set.crop_style = options.crop_style;
  const CropMaker maker(model, options);
  std::vector<cv::Mat> crops;
  ProgressBar bar("embedding faces", files.size(), options.progress);
  for (const auto& path : files) {
    cv::Mat crop;
    std::string reason;
    if (maker.crop(path, crop, reason)) {
      crops.push_back(std::move(crop));
      set.paths.push_back(path.string());
      set.labels.push_back(-1);
    } else {
      set.skipped.push_back(path.string() + ": " + reason);
    }
    bar.advance();
  }
  bar.finish();
  set.embeddings = crops.empty() ? Matrix(0, static_cast<std::size_t>(model.info().embed_dim))
                                 : model.encode_images(crops, ImageResize::squash, true);
  return set;
}

// ---------------------------------------------------------------------------------------------

Split split_per_person(const std::vector<int>& labels, std::uint64_t seed,
                       double validation_fraction) {
  if (validation_fraction < 0 || validation_fraction >= 1) {
    throw InputError("validation fraction must be in [0, 1)");
  }
  std::map<int, std::vector<std::size_t>> rows;
  for (std::size_t i = 0; i < labels.size(); ++i) rows[labels[i]].push_back(i);
  Split split;
  split.seed = seed;
  split.validation_fraction = validation_fraction;
  for (auto& [label, indices] : rows) {
    // mt19937_64's output is fixed by the standard (distributions are not), so the split is the
    // same with every compiler. Fisher-Yates by hand for the same reason.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(label));
    for (std::size_t i = indices.size(); i > 1; --i) {
      std::swap(indices[i - 1], indices[rng() % i]);
    }
    auto n_val = static_cast<std::size_t>(
        std::floor(static_cast<double>(indices.size()) * validation_fraction + 0.5));
    n_val = std::min(n_val, indices.size() - 1);
    split.validation.insert(split.validation.end(), indices.begin(), indices.begin() + n_val);
    split.train.insert(split.train.end(), indices.begin() + n_val, indices.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.validation.begin(), split.validation.end());
  return split;
}

}  // namespace clipface::finetune
