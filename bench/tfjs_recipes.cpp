// How to feed the TF.js face embedders, measured: LFW View 1 training pairs (development data,
// never the test file) through YuNet and our alignment, for each crop style, channel order and
// value range a model might have been trained with. The recipes in src/embed/tfjs_embedder.cpp
// are the winners; docs/results.md holds the table.
//
//   build/bench/tfjs_recipes [--pairs 600] [--embedder mobilefacenet ...]
//
// Prints, per variant, the best accuracy over thresholds on those pairs and the ROC AUC.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "clipface/align.hpp"
#include "clipface/allocator.hpp"
#include "clipface/detect.hpp"
#include "clipface/eval/verification.hpp"
#include "clipface/image.hpp"
#include "clipface/matrix.hpp"
#include "embed/embedders.hpp"

namespace {
using namespace clipface;
namespace fs = std::filesystem;
using Channels = tfjs::PixelFormat::Channels;

fs::path shared_dir() {
  const char* env = std::getenv("CLIPFACE_SHARED");
  return env && *env ? fs::path(env) : fs::path(CLIPFACE_DEFAULT_SHARED);
}

struct Variant {
  std::string label;
  std::string crop;
  tfjs::PixelFormat pixels;
};

// The value ranges face models are commonly trained with, in both channel orders and both
// crops.
std::vector<Variant> variants() {
  const std::vector<std::pair<std::string, std::pair<double, double>>> ranges = {
      {"0..255", {1.0, 0.0}}, {"0..1", {1.0 / 255, 0.0}}, {"-1..1", {1.0 / 128, -127.5 / 128}}};
  std::vector<Variant> out;
  for (const char* crop : {"tight", "loose"}) {
    for (const auto channels : {Channels::rgb, Channels::bgr}) {
      for (const auto& [range, scale_offset] : ranges) {
        out.push_back(
            {std::string(crop) + " " + (channels == Channels::rgb ? "RGB" : "BGR") + " " + range,
             crop,
             {channels, scale_offset.first, scale_offset.second}});
      }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  std::size_t max_pairs = 600;
  std::vector<std::string> embedders;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc) {
      max_pairs = std::stoul(argv[++i]);
    } else if (!std::strcmp(argv[i], "--embedder") && i + 1 < argc) {
      embedders.push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: tfjs_recipes [--pairs N] [--embedder NAME]...\n");
      return 2;
    }
  }
  if (embedders.empty()) embedders = detail::tfjs_embedder_names();
  const fs::path lfw = shared_dir() / "data/faces/lfw-view1";
  const auto file = eval::read_pairs(lfw / "pairsDevTrain.txt");
  // An even spread over the file (same pairs first, then different ones).
  std::vector<eval::FacePair> pairs;
  const std::size_t step = std::max<std::size_t>(1, file.pairs.size() / max_pairs);
  for (std::size_t i = 0; i < file.pairs.size() && pairs.size() < max_pairs; i += step) {
    pairs.push_back(file.pairs[i]);
  }

  // Detect once: the face nearest the centre of each image.
  const auto detector = make_detector();
  std::map<fs::path, std::pair<cv::Mat, Face>> faces;
  for (const auto& p : pairs) {
    for (const auto& [name, index] : {std::pair{p.name_a, p.index_a}, {p.name_b, p.index_b}}) {
      const fs::path path = eval::lfw_image_path(lfw, name, index);
      if (faces.count(path)) continue;
      const cv::Mat image = load_image(path);
      const auto found = detector->detect(image);
      const int pick = pick_face(found, image.size(), FacePick::nearest_centre);
      if (pick >= 0) faces[path] = {image, found[static_cast<std::size_t>(pick)]};
    }
  }
  std::printf("LFW View 1 pairsDevTrain.txt: %zu pairs (every %zu-th), %zu images with a face\n\n",
              pairs.size(), step, faces.size());
  std::printf("%-14s %-20s %9s %7s %9s %7s %9s %8s\n", "embedder", "crop channels range",
              "accuracy", "AUC", "centred", "AUC", "-grey", "ms/face");
  for (const auto& name : embedders) {
    const detail::TfjsRecipe* base = detail::find_tfjs_recipe(name);
    if (!base) {
      std::fprintf(stderr, "unknown TF.js embedder %s\n", name.c_str());
      return 2;
    }
    for (const Variant& v : variants()) {
      detail::TfjsRecipe recipe = *base;
      recipe.model.pixels = v.pixels;
      EmbedderOptions options;
      options.crop_style = v.crop;
      const auto embedder = detail::make_tfjs_embedder(recipe, {}, options);
      std::map<fs::path, std::vector<float>> vectors;
      const auto t0 = std::chrono::steady_clock::now();
      for (const auto& [path, image_face] : faces) {
        const Matrix m = embedder->embed(image_face.first, {image_face.second});
        vectors[path] = {m.data.begin(), m.data.end()};
      }
      const double ms =
          1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
          static_cast<double>(faces.size());
      // Also centred: a vector taken off before the cosine, for models whose outputs share a
      // large constant part: the mean embedding of these images, or the model's answer to a
      // blank grey crop (which needs no data at all).
      std::vector<float> mean(static_cast<std::size_t>(embedder->info().dim), 0.0f);
      for (const auto& [path, vec] : vectors) {
        for (std::size_t j = 0; j < mean.size(); ++j) mean[j] += vec[j] / vectors.size();
      }
      const int side = embedder->info().input_size;
      const Matrix blank =
          embedder->embed_crops({cv::Mat(side, side, CV_8UC3, cv::Scalar::all(128))});
      const std::vector<float> grey(blank.data.begin(), blank.data.end());
      auto off = [](const std::vector<float>& vec, const std::vector<float>& centre) {
        std::vector<float> c(vec.size());
        float norm = 0;
        for (std::size_t j = 0; j < vec.size(); ++j) norm += (c[j] = vec[j] - centre[j]) * c[j];
        for (auto& x : c) x /= std::sqrt(std::max(norm, 1e-20f));
        return c;
      };
      std::vector<float> scores, centred, greyed;
      std::vector<bool> same;
      for (const auto& p : pairs) {
        const auto a = vectors.find(eval::lfw_image_path(lfw, p.name_a, p.index_a));
        const auto b = vectors.find(eval::lfw_image_path(lfw, p.name_b, p.index_b));
        const bool missing = a == vectors.end() || b == vectors.end();
        scores.push_back(missing ? eval::kMissingScore : dot(a->second, b->second));
        centred.push_back(missing ? eval::kMissingScore
                                  : dot(off(a->second, mean), off(b->second, mean)));
        greyed.push_back(missing ? eval::kMissingScore
                                 : dot(off(a->second, grey), off(b->second, grey)));
        same.push_back(p.same);
      }
      auto best = [&](const std::vector<float>& s) {
        return 100 * eval::accuracy_at(s, same, eval::best_threshold(s, same));
      };
      std::printf("%-14s %-20s %8.2f%% %7.4f %8.2f%% %7.4f %8.2f%% %8.1f\n", name.c_str(),
                  v.label.c_str(), best(scores), eval::roc_auc(scores, same), best(centred),
                  eval::roc_auc(centred, same), best(greyed), ms);
      std::fflush(stdout);
    }
  }
  return 0;
}
