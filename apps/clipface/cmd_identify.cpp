// clipface identify GALLERY IMG|DIR...: names every face of every image (JSON lines or a table),
// with the face's quality beside each decision, optionally writing annotated images and the
// aligned crops, and remembering the faces it met as unlabelled faces (--remember). The vote
// rule is the gallery's (calibrated when calibrated); --k1/--k2/--threshold override it.
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/align.hpp"
#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "command.hpp"
#include "inputs.hpp"
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
  bool remember = false;
  PipelineArgs pipeline;
  InputPolicy policy;
};

nlohmann::json face_json(const fs::path& file, cv::Size image, std::size_t index,
                         const NamedFace& named, const KnnVote& rule) {
  const auto& f = named.face;
  nlohmann::json landmarks = nlohmann::json::array();
  for (const auto& p : f.landmarks) landmarks.push_back({p.x, p.y});
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& n : named.neighbours) {
    neighbours.push_back({{"person", n.person}, {"cosine", n.cosine}, {"distance", n.l2}});
  }
  const auto& d = named.decision;
  nlohmann::json out{{"file", file.string()}, {"face", index}};
  add_box_fields(out, f, image);
  out.update({{"landmarks", landmarks},
              {"detector_score", f.score},
              {"label", d.label},
              {"score", d.score},
              {"distance", l2_from_cosine(d.score)},
              {"votes", d.votes},
              {"voters", d.voters},
              // the L2 threshold that applied: the named person's (calibrated or not), else the
              // global one
              {"threshold", rule.threshold_for(d.known() ? d.label : std::string())},
              {"quality",
               {{"size", named.quality.size},
                {"sharpness", named.quality.sharpness},
                {"yaw", named.quality.yaw},
                {"pitch", named.quality.pitch},
                {"roll", named.quality.roll},
                {"detector_score", named.quality.detector_score},
                {"problems", quality_problems(named.quality, QualityBar{})}}},
              {"neighbours", neighbours}});
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
      app.add_flag("--remember", args->remember,
                   "store the faces met as unlabelled faces of the gallery (for clipface "
                   "cluster); images already in the gallery add nothing");
      args->pipeline.add_to(app);
      args->pipeline.add_analysis_to(app, /*with_attributes=*/true);
      args->policy.add_to(app);
      return [args]() {
        const std::vector<fs::path> files = expand_image_inputs(args->inputs);
        if (files.empty()) throw InputError("no image files in the folders given");
        SkipList skips;
        if (args->policy.strict) require_readable_images(files);
        Gallery gallery =
            Gallery::open(args->gallery, args->remember ? GalleryMode::write : GalleryMode::read);
        const FacePipeline pipeline(
            args->pipeline.options(embedder_spec_for(gallery.model()), gallery.model().crop_style));
        KnnVote rule = gallery.vote_rule();
        if (args->k1 > 0) rule.k1 = args->k1;
        if (args->k2 > 0) rule.k2 = args->k2;
        if (rule.k2 < rule.k1) rule.k2 = rule.k1;
        if (args->threshold >= 0) {
          rule.threshold = args->threshold;  // one threshold for everyone, as asked
          rule.person_thresholds.clear();
        }
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
          std::printf("%-40s %4s  %-24s %7s %8s %5s  %-9s %-22s%s\n", "file", "face", "label",
                      "cosine", "distance", "votes", "quality", "box",
                      analysed ? "  analysis" : "");
        }
        for (const auto& file : files) {
          Identification result;
          try {
            result = recognizer.identify_file(file);
          } catch (const ImageError& e) {
            skips.skip(file.string(), e.reason(), e.exit_code());
            if (args->json) {
              std::printf("%s\n", nlohmann::json{{"file", file.string()},
                                                 {"skipped", e.reason()},
                                                 {"code", e.exit_code()}}
                                      .dump()
                                      .c_str());
            }
            continue;
          }
          skips.use();
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
              std::printf("%s\n", face_json(file, result.size, i, named, rule).dump().c_str());
            } else {
              const auto b = clip_box(named.face.box, result.size);
              char box[64];
              std::snprintf(box, sizeof box, "%.0f,%.0f %.0fx%.0f", b.x, b.y, b.width, b.height);
              std::printf("%-40s %4zu  %-24s %7.3f %8.3f %5d  %-9s %-22s%s%s\n",
                          file.filename().string().c_str(), i, named.decision.label.c_str(),
                          named.decision.score, l2_from_cosine(named.decision.score),
                          named.decision.votes, quality_tags(named.quality, QualityBar{}).c_str(),
                          box, analysed ? "  " : "", summary(named.analysis).c_str());
            }
          }
          if (!args->annotate_dir.empty()) {
            const fs::path out = fs::path(args->annotate_dir) / (file.stem().string() + ".jpg");
            if (!cv::imwrite(out.string(), annotate(load_image(file), result.faces))) {
              throw InputError("cannot write " + out.string());
            }
          }
          if (args->remember) {
            remember_faces(gallery, pipeline.embedder().info(), result, sha256_file(file));
          }
          if (!args->crops_dir.empty()) {
            std::vector<cv::Mat> crops;
            for (const auto& named : result.faces) crops.push_back(named.crop);
            save_crops(crops, args->crops_dir, file.stem().string());
          }
          std::fflush(stdout);
        }
        skips.print_summary("images");
        return skips.exit_code(args->policy);
      };
    });

}  // namespace
}  // namespace clipface::app
