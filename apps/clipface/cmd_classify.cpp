// clipface classify FILE IMG|DIR...: names every face with a fine-tuned prompt classifier
// (softmax over the class prompts; "Unknown" below --min-confidence).
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "command.hpp"
#include "inputs.hpp"

namespace clipface::app {
namespace {

namespace fs = std::filesystem;
namespace ft = clipface::finetune;
using nlohmann::json;

struct ClassifyArgs {
  std::string file;
  std::vector<std::string> inputs;
  std::string model;
  float min_confidence = ft::kDefaultMinConfidence;
  bool json = false;
  std::string annotate_dir;
  bool cropped = false;
  bool uncropped = false;
  std::string detector = "yunet";
  std::string detector_model;
  float score_threshold = 0.6f;
  InputPolicy policy;
};

const bool registered = register_command(
    "classify", "name every face with a fine-tuned prompt classifier (from `clipface finetune`)",
    [](CLI::App& app) -> Runner {
      auto a = std::make_shared<ClassifyArgs>();
      app.add_option("classifier", a->file, "classifier file written by `clipface finetune`")
          ->required();
      app.add_option("images", a->inputs, "images or folders")->required();
      app.add_option("--model,-m", a->model, "base model file (default: the one recorded)");
      app.add_option("--min-confidence", a->min_confidence, "below this the answer is Unknown")
          ->capture_default_str()
          ->check(CLI::Range(0.0f, 1.0f));
      app.add_flag("--json", a->json, "one JSON object per face on stdout");
      app.add_option("--annotate", a->annotate_dir, "write annotated images into this folder");
      auto* c =
          app.add_flag("--cropped", a->cropped, "images are face crops (default: as trained)");
      app.add_flag("--detect", a->uncropped, "detect faces even if trained on crops")->excludes(c);
      app.add_option("--detector", a->detector, "yunet or scrfd")->capture_default_str();
      app.add_option("--detector-model", a->detector_model, "detector model file");
      app.add_option("--score-threshold", a->score_threshold, "detector score threshold")
          ->capture_default_str();
      a->policy.add_to(app);
      return [a]() -> int {
        DetectorOptions detector;
        detector.kind = a->detector;
        detector.model = a->detector_model;
        detector.score_threshold = a->score_threshold;
        std::optional<bool> cropped;
        if (a->cropped) cropped = true;
        if (a->uncropped) cropped = false;
        const std::vector<fs::path> files = expand_image_inputs(a->inputs);
        if (files.empty()) throw InputError("no image to classify");
        SkipList skips;
        if (a->policy.strict) require_readable_images(files);
        if (!a->annotate_dir.empty()) {
          std::error_code ec;
          fs::create_directories(a->annotate_dir, ec);
          if (ec) throw InputError("cannot create " + a->annotate_dir + ": " + ec.message());
        }
        const ft::FaceClassifier namer(a->file, a->model, detector, cropped);
        const bool random = namer.classifier().info().random_weights;
        if (random) {
          std::fprintf(stderr, "RANDOM WEIGHTS: names and confidences test the machinery only\n");
        }
        if (!a->json) {
          std::printf("%-40s %4s %-24s %10s  %s\n", "image", "face", "label", "confidence",
                      "most likely");
        }
        for (const auto& file : files) {
          cv::Mat image;
          try {
            image = load_image(file);
          } catch (const ImageError& e) {
            skips.skip(file.string(), e.reason(), e.exit_code());
            continue;
          }
          skips.use();
          const auto faces = namer.classify(image, a->min_confidence);
          for (std::size_t i = 0; i < faces.size(); ++i) {
            const auto& f = faces[i];
            if (a->json) {
              json out{{"image", file.string()}, {"face", i}};
              add_box_fields(out, f.face, image.size());
              out.update({{"label", f.decision.label},
                          {"confidence", f.decision.confidence},
                          {"best", f.decision.best},
                          {"random_weights", random}});
              std::cout << out.dump() << "\n";
            } else {
              std::printf("%-40s %4zu %-24s %9.1f%%  %s\n", file.filename().string().c_str(), i,
                          f.decision.label.c_str(), 100 * f.decision.confidence,
                          f.decision.best.c_str());
            }
          }
          if (faces.empty() && !a->json) {
            std::printf("%-40s %4s %-24s\n", file.filename().string().c_str(), "-", "(no face)");
          }
          if (!a->annotate_dir.empty()) {
            std::vector<NamedFace> named;
            for (const auto& f : faces) {
              NamedFace n;
              n.face = f.face;
              n.decision.label = f.decision.label;
              n.decision.score = f.decision.confidence;
              n.decision.nearest = f.decision.best;
              named.push_back(std::move(n));
            }
            const fs::path out = fs::path(a->annotate_dir) / (file.stem().string() + ".jpg");
            if (!cv::imwrite(out.string(), annotate(image, named))) {
              throw InputError("cannot write " + out.string());
            }
          }
        }
        skips.print_summary("images");
        return skips.exit_code(a->policy);
      };
    });

}  // namespace
}  // namespace clipface::app
