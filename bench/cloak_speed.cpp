// Seconds per cloaked 224x224 face, per method and level, against one embedding of the same face
// by the models' own inference path measured in the same run.
//
//   build/bench/cloak_speed [--repeats 3] [--models dlib[,clip-random:ViT-B-32]] [--steps N]
//                           [--threads 1]
//
// The face: LFW's Colin_Powell_0038 aligned to a 224x224 loose crop (what Fawkes resizes its
// faces to), cloaked as a picture of its own (detection, alignment and the budget checks
// included). Baseline: the embedders' inference (make_embedder) of that face, the unit of work a
// recognition system spends per face. Fawkes' own tool quotes "~60 seconds per image on a CPU
// machine" (its README); that figure is quoted, not measured here.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "clipface/align.hpp"
#include "clipface/allocator.hpp"
#include "clipface/cloak.hpp"
#include "clipface/detect.hpp"
#include "clipface/embedder.hpp"
#include "clipface/image.hpp"
#include "clipface/paths.hpp"

namespace {
using namespace clipface;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

fs::path shared_dir() {
  const char* env = std::getenv("CLIPFACE_SHARED");
  return env && *env ? fs::path(env) : fs::path(CLIPFACE_DEFAULT_SHARED);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  int repeats = 3;
  int steps = -1;
  std::string models = "dlib";
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats" && i + 1 < argc) {
      repeats = std::atoi(argv[++i]);
    } else if (arg == "--models" && i + 1 < argc) {
      models = argv[++i];
    } else if (arg == "--steps" && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  try {
    const fs::path models_dir = shared_dir() / "models";
    DetectorOptions detector_options;
    detector_options.model = (models_dir / "yunet/face_detection_yunet_2022mar.onnx").string();
    const auto detector = make_detector(detector_options);
    const cv::Mat photo =
        load_image(shared_dir() / "data/faces/lfw-view1/Colin_Powell/Colin_Powell_0038.jpg");
    const auto photo_faces = detector->detect(photo);
    if (photo_faces.empty()) throw std::runtime_error("no face in the benchmark photo");
    const cv::Mat face224 = align_face(photo, photo_faces[0], 224, CropStyle::loose);
    const auto faces = detector->detect(face224);
    if (faces.empty()) throw std::runtime_error("no face in the 224x224 crop");

    std::vector<std::string> specs;
    std::stringstream ss(models);
    for (std::string s; std::getline(ss, s, ',');) {
      specs.push_back(s == "dlib" ? "dlib:" + (models_dir / "dlib").string() : s);
    }
    // Baseline: one inference embedding of the face per model, summed over the models.
    std::vector<double> base;
    std::vector<std::unique_ptr<Embedder>> embedders;
    EmbedderOptions embedder_options;
    embedder_options.runtime.threads = threads;
    for (const auto& s : specs) embedders.push_back(make_embedder(s, embedder_options));
    for (int r = 0; r < std::max(5, repeats); ++r) {
      const auto t0 = Clock::now();
      for (const auto& e : embedders) e->embed(face224, {faces[0]});
      base.push_back(seconds_since(t0));
    }
    const double baseline = median(base);

    std::vector<cloak::PoolImage> pool;
    for (const char* photo :
         {"Aaron_Sorkin/Aaron_Sorkin_0001.jpg", "Abdullah_Gul/Abdullah_Gul_0013.jpg",
          "Adam_Sandler/Adam_Sandler_0001.jpg"}) {
      const fs::path p = shared_dir() / "data/faces/lfw-view1" / photo;
      const std::string person = fs::path(photo).parent_path().string();
      const cv::Mat image = load_image(p);
      const auto f = detector->detect(image);
      if (!f.empty()) pool.push_back({person, image, f[0]});
    }
    std::printf("cloak_speed: one 224x224 face, models %s, %d threads, %d repeats (median)\n",
                models.c_str(), threads, repeats);
    std::printf("baseline: inference embedding of the face %.4f s\n\n", baseline);
    std::printf("| method | level | steps | s / face | x embedding | linf | dssim | psnr dB |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (const auto method : {cloak::Method::fawkes, cloak::Method::lowkey}) {
      for (const auto level : {cloak::Level::low, cloak::Level::mid, cloak::Level::high}) {
        cloak::CloakOptions o;
        o.method = method;
        o.level = level;
        o.models = specs;
        o.progress = false;
        o.runtime.threads = threads;
        if (steps >= 0) o.steps = steps;
        cloak::Cloaker cloaker(o);
        if (method == cloak::Method::fawkes) cloaker.set_target_pool(pool);
        std::vector<double> t;
        cloak::CloakResult last;
        for (int r = 0; r < repeats; ++r) {
          const auto t0 = Clock::now();
          const cv::Mat picture = face224.clone();
          const auto found = detector->detect(picture);
          last = cloaker.cloak({{"face224", picture, found}})[0];
          t.push_back(seconds_since(t0));
        }
        const double s = median(t);
        std::printf("| %s | %s | %d | %.2f | %.0f | %d | %.4f | %.1f |\n",
                    cloak::to_string(method).c_str(), cloak::to_string(level).c_str(),
                    cloaker.budget().steps, s, s / baseline, last.linf, last.dssim, last.psnr);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cloak_speed: %s\n", e.what());
    return 1;
  }
  return 0;
}
