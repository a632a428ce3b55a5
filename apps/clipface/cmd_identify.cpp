// clipface identify GALLERY IMG|DIR...: names every face of every image (JSON lines or a table),
// optionally writing annotated images and the aligned crops.
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "command.hpp"
#include "pipeline_args.hpp"

namespace clipface::app {
namespace {
namespace fs = std::filesystem;

struct IdentifyArgs {
  std::string gallery;
  std::vector<std::string> inputs;
  int k1 = 0, k2 = 0;
  float threshold = -1;
  bool json = false;
  std::string annotate_dir;
  std::string crops_dir;
  std::string classifier;
  float min_confidence = finetune::kDefaultMinConfidence;
  PipelineArgs pipeline;
};

std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    if (fs::is_directory(input)) {
      for (auto& f : list_images(input, true)) files.push_back(std::move(f));
    } else {
      files.emplace_back(input);  // a missing file is reported when it is read
    }
  }
  return files;
}

nlohmann::json face_json(const fs::path& file, std::size_t index, const NamedFace& named) {
  const auto& f = named.face;
  nlohmann::json landmarks = nlohmann::json::array();
  for (const auto& p : f.landmarks) landmarks.push_back({p.x, p.y});
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& n : named.neighbours) {
    neighbours.push_back({{"person", n.person}, {"cosine", n.cosine}, {"distance", n.l2}});
  }
  const auto& d = named.decision;
  nlohmann::json out = {{"file", file.string()},
                        {"face", index},
                        {"box", {f.box.x, f.box.y, f.box.width, f.box.height}},
                        {"landmarks", landmarks},
                        {"detector_score", f.score},
                        {"label", d.label},
                        {"score", d.score},
                        {"distance", l2_from_cosine(d.score)},
                        {"votes", d.votes},
                        {"voters", d.voters},
                        {"neighbours", neighbours}};
  out.update(to_json(named.analysis));  // "antispoof", "attributes" when asked for
  return out;
}

const bool registered = register_command(
    "identify", "name every face in images with a gallery (k1/k2 vote, Unknown threshold)",
    [](CLI::App& app) {
      auto args = std::make_shared<IdentifyArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.add_option("inputs", args->inputs, "images or folders (searched recursively)")
          ->required();
      app.add_option("--k1", args->k1, "first-round voters (default per embedder)");
      app.add_option("--k2", args->k2, "neighbours considered when the first round has no winner");
      app.add_option("--threshold", args->threshold,
                     "largest L2 distance between unit vectors that may vote (1.0 = cosine 0.5)");
      app.add_flag("--json", args->json, "one JSON line per face");
      app.add_option("--annotate", args->annotate_dir, "write annotated images to this folder");
      app.add_option("--save-crops", args->crops_dir, "write the aligned crops to this folder");
      app.add_option("--classifier", args->classifier,
                     "name faces with a fine-tuned prompt classifier (clipface finetune) instead "
                     "of the gallery vote; neighbours are still listed");
      app.add_option("--min-confidence", args->min_confidence,
                     "with --classifier: Unknown below this softmax confidence")
          ->check(CLI::Range(0.0, 1.0));
      args->pipeline.add_to(app);
      args->pipeline.add_analysis_to(app, /*with_attributes=*/true);
      return [args]() {
        const Gallery gallery = Gallery::open(args->gallery, GalleryMode::read);
        const FacePipeline pipeline(
            args->pipeline.options(embedder_spec_for(gallery.model()), gallery.model().crop_style));
        KnnVote rule = default_vote(gallery.model());
        if (args->k1 > 0) rule.k1 = args->k1;
        if (args->k2 > 0) rule.k2 = args->k2;
        if (rule.k2 < rule.k1) rule.k2 = rule.k1;
        if (args->threshold >= 0) rule.threshold = args->threshold;
        Recognizer recognizer(gallery, pipeline, rule);
        std::shared_ptr<finetune::PromptClassifier> classifier;
        if (!args->classifier.empty()) {
          classifier = std::make_shared<finetune::PromptClassifier>(
              finetune::PromptClassifier::load(args->classifier));
          classifier->check_space(pipeline.embedder().info());
          recognizer.set_namer([classifier, min = args->min_confidence](const Matrix& embeddings) {
            return classifier->decide(embeddings, min);
          });
        }
        for (const auto& dir : {args->annotate_dir, args->crops_dir}) {
          if (!dir.empty()) fs::create_directories(dir);
        }
        const bool analysed = pipeline.analyzer() != nullptr;
        if (!args->json) {
          std::printf("%-40s %4s  %-24s %7s %8s %5s  %-22s%s\n", "file", "face", "label", "cosine",
                      "distance", "votes", "box", analysed ? "  analysis" : "");
        }
        int failures = 0;
        int exit_code = 0;
        for (const auto& file : expand_inputs(args->inputs)) {
          Identification result;
          try {
            result = recognizer.identify_file(file);
          } catch (const ImageError& e) {
            std::fprintf(stderr, "clipface: error: %s\n", e.what());
            ++failures;
            exit_code = e.exit_code();
            continue;
          }
          if (result.faces.empty()) {
            if (args->json) {
              std::printf("%s\n",
                          nlohmann::json{{"file", file.string()}, {"faces", 0}}.dump().c_str());
            } else {
              std::printf("%-40s %4s  (no face)\n", file.filename().string().c_str(), "-");
            }
          }
          for (std::size_t i = 0; i < result.faces.size(); ++i) {
            const auto& named = result.faces[i];
            if (args->json) {
              std::printf("%s\n", face_json(file, i, named).dump().c_str());
            } else {
              const auto& b = named.face.box;
              char box[64];
              std::snprintf(box, sizeof box, "%.0f,%.0f %.0fx%.0f", b.x, b.y, b.width, b.height);
              std::printf("%-40s %4zu  %-24s %7.3f %8.3f %5d  %-22s%s%s\n",
                          file.filename().string().c_str(), i, named.decision.label.c_str(),
                          named.decision.score, l2_from_cosine(named.decision.score),
                          named.decision.votes, box, analysed ? "  " : "",
                          summary(named.analysis).c_str());
            }
          }
          if (!args->annotate_dir.empty()) {
            const fs::path out = fs::path(args->annotate_dir) / (file.stem().string() + ".jpg");
            if (!cv::imwrite(out.string(), annotate(load_image(file), result.faces))) {
              throw InputError("cannot write " + out.string());
            }
          }
          if (!args->crops_dir.empty()) {
            std::vector<cv::Mat> crops;
            for (const auto& named : result.faces) crops.push_back(named.crop);
            save_crops(crops, args->crops_dir, file.stem().string());
          }
          std::fflush(stdout);
        }
        if (failures > 0 && args->inputs.size() > 1) {
          std::fprintf(stderr, "clipface: %d image(s) could not be read\n", failures);
        }
        return exit_code;
      };
    });

}  // namespace
}  // namespace clipface::app
