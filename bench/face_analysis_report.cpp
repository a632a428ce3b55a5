// What the anti-spoofing and attribute models say about the development photos (all real faces,
// photographed): score distributions of the gate's two models, gender accuracy against the
// people's known gender, age and emotion as reported. No spoof data set is at hand, so this is
// a description of the scores on genuine faces, not an accuracy of the gate.
//
//   build/bench/face_analysis_report [--liveness-class 0|1]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "clipface/allocator.hpp"
#include "clipface/detect.hpp"
#include "clipface/face_analysis.hpp"
#include "clipface/image.hpp"

namespace {
using namespace clipface;
namespace fs = std::filesystem;

fs::path shared_dir() {
  const char* env = std::getenv("CLIPFACE_SHARED");
  return env && *env ? fs::path(env) : fs::path(CLIPFACE_DEFAULT_SHARED);
}

// The development folders of named people and each person's gender (public figures and
// characters; labelled by hand for this check).
const std::map<std::string, std::map<std::string, std::string>>& labelled() {
  static const std::map<std::string, std::map<std::string, std::string>> people = {
      {"named/five_celebrity",
       {{"ben_afflek", "male"},
        {"elton_john", "male"},
        {"jerry_seinfeld", "male"},
        {"madonna", "female"},
        {"mindy_kaling", "female"}}},
      {"named/faceapi_bbt",
       {{"amy", "female"},
        {"bernadette", "female"},
        {"howard", "male"},
        {"leonard", "male"},
        {"penny", "female"},
        {"raj", "male"},
        {"sheldon", "male"},
        {"stuart", "male"}}},
      {"named/face_recognition_examples",
       {{"alex_lacamoire", "male"},
        {"barack_obama", "male"},
        {"joe_biden", "male"},
        {"kit_harington", "male"},
        {"lin_manuel_miranda", "male"},
        {"rose_leslie", "female"}}},
      {"named/facenet_pytorch_samples",
       {{"angelina_jolie", "female"},
        {"bradley_cooper", "male"},
        {"kate_siegel", "female"},
        {"paul_rudd", "male"},
        {"shea_whigham", "male"}}},
  };
  return people;
}

double quantile(std::vector<float> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main() {
  keep_freed_memory_for_reuse();
  AnalysisOptions options;
  options.antispoof_threshold = 0.5f;
  options.attributes = {"age", "gender", "emotion"};
  const FaceAnalyzer analyzer(options);
  const auto detector = make_detector();
  const fs::path faces_dir = shared_dir() / "data/faces";

  std::vector<float> real, live, ages;
  std::map<std::string, int> emotions;
  std::printf("%-34s %6s %9s %8s %8s %8s\n", "folder", "faces", "gender ok", "real p50", "live p50",
              "age p50");
  int total = 0, right = 0;
  for (const auto& [folder, people] : labelled()) {
    std::vector<float> folder_real, folder_live, folder_age;
    int faces = 0, correct = 0;
    for (const auto& [person, gender] : people) {
      for (const auto& path : list_images(faces_dir / folder / person, false)) {
        const cv::Mat image = load_image(path);
        auto found = detector->detect(image);
        const int pick = pick_face(found, image.size(), FacePick::largest);
        if (pick < 0) continue;
        const auto result = analyzer.analyze(image, {found[static_cast<std::size_t>(pick)]})[0];
        ++faces;
        correct += result.attributes->gender == gender;
        folder_real.push_back(result.spoof->real);
        folder_live.push_back(result.spoof->live);
        folder_age.push_back(*result.attributes->age);
        ++emotions[result.attributes->emotion];
      }
    }
    std::printf("%-34s %6d %8.1f%% %8.3f %8.3f %8.1f\n", folder.c_str(), faces,
                faces ? 100.0 * correct / faces : 0.0, quantile(folder_real, 0.5),
                quantile(folder_live, 0.5), quantile(folder_age, 0.5));
    total += faces;
    right += correct;
    real.insert(real.end(), folder_real.begin(), folder_real.end());
    live.insert(live.end(), folder_live.begin(), folder_live.end());
    ages.insert(ages.end(), folder_age.begin(), folder_age.end());
  }
  std::printf("\nall %d faces: gender %.1f%% right\n", total, total ? 100.0 * right / total : 0.0);
  std::printf(
      "antispoof real score: p05 %.3f  p25 %.3f  p50 %.3f  p75 %.3f  p95 %.3f  (below 0.5: %ld)\n",
      quantile(real, 0.05), quantile(real, 0.25), quantile(real, 0.5), quantile(real, 0.75),
      quantile(real, 0.95),
      std::count_if(real.begin(), real.end(), [](float v) { return v < 0.5f; }));
  std::printf(
      "liveness live score:  p05 %.3f  p25 %.3f  p50 %.3f  p75 %.3f  p95 %.3f  (below 0.5: %ld)\n",
      quantile(live, 0.05), quantile(live, 0.25), quantile(live, 0.5), quantile(live, 0.75),
      quantile(live, 0.95),
      std::count_if(live.begin(), live.end(), [](float v) { return v < 0.5f; }));
  std::printf("age: p05 %.1f  p50 %.1f  p95 %.1f\nemotion:", quantile(ages, 0.05),
              quantile(ages, 0.5), quantile(ages, 0.95));
  for (const auto& [name, n] : emotions) std::printf(" %s %d", name.c_str(), n);
  std::printf("\n");
  return 0;
}
