// Detection, embedding and enrollment speed, against the face_recognition pipeline and dlib's
// ResNet measured in the same run.
//
//   build/bench/face_pipeline [--repeats 3] [--clip ViT-B-32]
//
// Embedding per face: the faces YuNet finds in the photos, each embedded on its own (crop +
// network, batch 1, what a camera frame with one face costs) and all at once (batched crops),
// for dlib and the TF.js embedders (mobilefacenet, mobileface, faceres; skipped when
// `clipface models pull human-models` has not run).
//
// Baseline: what Python's face_recognition does for face_encodings(), written as a small C++
// program against Debian's dlib: HOG detector with one upsampling (its default), the 5-point
// shape predictor, the ResNet encoder, one face at a time. Photos: the face_recognition examples
// from the shared folder (0.2-3.3 Mpx). Detection is timed on each photo resized to 640x480.
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "clipface/allocator.hpp"
#include "clipface/detect.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/paths.hpp"
#include "clipface/recognizer.hpp"
#include "embed/dlib_network.hpp"

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

// face_recognition.face_encodings(load_image_file(path)) for every face, one at a time.
struct FaceRecognitionBaseline {
  dlib::frontal_face_detector hog = dlib::get_frontal_face_detector();
  dlib::shape_predictor sp5;
  detail::DlibFaceNet net;

  FaceRecognitionBaseline() {
    dlib::deserialize(find_model_file("shape_predictor_5_face_landmarks.dat").string()) >> sp5;
    dlib::deserialize(find_model_file("dlib_face_recognition_resnet_model_v1.dat").string()) >> net;
  }
  std::vector<dlib::rectangle> detect(const cv::Mat& bgr) {
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    dlib::array2d<dlib::rgb_pixel> img;
    dlib::assign_image(img, dlib::cv_image<dlib::rgb_pixel>(rgb));
    dlib::pyramid_up(img);  // number_of_times_to_upsample=1
    auto boxes = hog(img);
    for (auto& b : boxes)
      b = dlib::rectangle(b.left() / 2, b.top() / 2, b.right() / 2, b.bottom() / 2);
    return boxes;
  }
  int encode_all(const cv::Mat& bgr) {
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    dlib::cv_image<dlib::rgb_pixel> img(rgb);
    int n = 0;
    for (const auto& box : detect(bgr)) {
      const auto shape = sp5(img, box);
      dlib::matrix<dlib::rgb_pixel> chip;
      dlib::extract_image_chip(img, dlib::get_face_chip_details(shape, 150, 0.25), chip);
      volatile float sink = net(chip)(0);  // one face per call, as face_recognition does
      (void)sink;
      ++n;
    }
    return n;
  }
};

}  // namespace

int main(int argc, char** argv) {
  clipface::keep_freed_memory_for_reuse();  // as the CLI does
  int repeats = 3;
  std::string clip_arch = "ViT-B-32";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats" && i + 1 < argc) {
      repeats = std::stoi(argv[++i]);
    } else if (arg == "--clip" && i + 1 < argc) {
      clip_arch = argv[++i];
    } else {
      std::fprintf(stderr, "usage: face_pipeline [--repeats N] [--clip ARCH]\n");
      return 2;
    }
  }
  const fs::path people = shared_dir() / "data/faces/named/face_recognition_examples";
  std::vector<fs::path> files;
  for (const auto& p : list_people(people))
    files.insert(files.end(), p.images.begin(), p.images.end());
  std::vector<cv::Mat> photos, frames;
  double megapixels = 0;
  for (const auto& f : files) {
    photos.push_back(load_image(f));
    megapixels += photos.back().total() / 1e6;
    cv::Mat frame;
    cv::resize(photos.back(), frame, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
    frames.push_back(frame);
  }
  std::printf("%zu photos (mean %.1f Mpx), repeats %d, medians\n\n", photos.size(),
              megapixels / photos.size(), repeats);

  FaceRecognitionBaseline baseline;
  DetectorOptions yunet_options, scrfd_options;
  scrfd_options.kind = "scrfd";
  const auto yunet = make_detector(yunet_options);
  const auto scrfd = make_detector(scrfd_options);

  // Detection per 640x480 frame.
  auto time_per_frame = [&](auto&& detect) {
    std::vector<double> samples;
    for (int r = 0; r < repeats; ++r) {
      for (const auto& frame : frames) {
        const auto t0 = Clock::now();
        detect(frame);
        samples.push_back(seconds_since(t0));
      }
    }
    return median(samples) * 1000;
  };
  const double hog_ms = time_per_frame([&](const cv::Mat& f) { return baseline.detect(f).size(); });
  const double yunet_ms = time_per_frame([&](const cv::Mat& f) { return yunet->detect(f).size(); });
  const double scrfd_ms = time_per_frame([&](const cv::Mat& f) { return scrfd->detect(f).size(); });
  std::printf(
      "| detection, 640x480 frame | ms per frame | vs face_recognition HOG |\n|---|---|---|\n");
  std::printf("| face_recognition HOG (upsample 1), baseline | %.1f | 1.00x |\n", hog_ms);
  std::printf("| YuNet 2022mar | %.1f | %.2fx faster |\n", yunet_ms, hog_ms / yunet_ms);
  std::printf("| SCRFD 500m | %.1f | %.2fx faster |\n\n", scrfd_ms, hog_ms / scrfd_ms);

  // Embedding per face, each embedder against dlib.
  std::vector<std::pair<const cv::Mat*, Face>> found;
  for (const auto& photo : photos) {
    for (const auto& face : yunet->detect(photo)) found.emplace_back(&photo, face);
  }
  std::printf(
      "| embedding, %zu faces | dim | ms per face, one at a time | ms per face, batched | "
      "one at a time vs dlib |\n|---|---|---|---|---|\n",
      found.size());
  double dlib_single = 0;
  for (const std::string spec : {"dlib", "mobilefacenet", "mobileface", "faceres"}) {
    std::unique_ptr<Embedder> embedder;
    try {
      embedder = make_embedder(spec);
    } catch (const ModelError& e) {
      std::printf("| %s | (not installed: %s) | | | |\n", spec.c_str(), e.what());
      continue;
    }
    std::vector<double> single, batched;
    for (int r = 0; r < repeats; ++r) {
      for (const auto& [photo, face] : found) {
        const auto t0 = Clock::now();
        embedder->embed(*photo, {face});
        single.push_back(seconds_since(t0));
      }
      std::vector<cv::Mat> crops;
      const auto t0 = Clock::now();
      for (const auto& [photo, face] : found) crops.push_back(embedder->crops(*photo, {face})[0]);
      embedder->embed_crops(crops);
      batched.push_back(seconds_since(t0) / static_cast<double>(found.size()));
    }
    const double one = median(single) * 1000, many = median(batched) * 1000;
    if (spec == "dlib") dlib_single = one;
    std::printf("| %s%s | %d | %.2f | %.2f | %.2fx faster |\n", spec.c_str(),
                spec == "dlib" ? ", baseline" : "", embedder->info().dim, one, many,
                dlib_single > 0 ? dlib_single / one : 0.0);
  }
  std::printf("\n");

  // Enrollment: whole photos, detect + align + embed every face.
  auto images_per_second = [&](auto&& enroll) {
    std::vector<double> runs;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      for (const auto& photo : photos) enroll(photo);
      runs.push_back(photos.size() / seconds_since(t0));
    }
    return median(runs);
  };
  const double base_rate =
      images_per_second([&](const cv::Mat& p) { return baseline.encode_all(p); });
  std::printf("| enrollment, whole photos | images/s | vs face_recognition |\n|---|---|---|\n");
  std::printf(
      "| face_recognition (HOG + sp5 + ResNet, one face at a time), baseline | %.2f | 1.00x |\n",
      base_rate);
  for (const std::string& spec :
       {std::string("dlib"), std::string("mobilefacenet"), "clip-random:" + clip_arch}) {
    PipelineOptions options;
    options.embedder = spec;
    std::unique_ptr<FacePipeline> made;
    try {
      made = std::make_unique<FacePipeline>(options);
    } catch (const ModelError&) {
      continue;  // reported in the embedding table
    }
    const FacePipeline& pipeline = *made;
    const double rate =
        images_per_second([&](const cv::Mat& p) { return pipeline.process(p).faces.size(); });
    std::printf("| clipface YuNet + %s%s | %.2f | %.2fx |\n", spec.c_str(),
                spec.rfind("clip-random", 0) == 0 ? " (random weights: speed only)" : "", rate,
                rate / base_rate);
  }
  return 0;
}
