// clipface finetune DIR --model M --out FILE: single-shot fine-tuning of CLIP's text tower on
// DIR/<person>/* photos, written as a prompt classifier (see clipface/finetune.hpp). The prompt /
// loss study is `clipface eval prompts` (cmd_eval.cpp).
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"
#include "command.hpp"
#include "train_args.hpp"

namespace clipface::app {
namespace {

namespace ft = clipface::finetune;
using nlohmann::json;

constexpr const char* kRandomBanner =
    "RANDOM WEIGHTS: these figures test the machinery only, they are not accuracy";

// Data, base model and every training hyper-parameter.
struct TrainArgs {
  std::string dir;
  std::string model;
  std::string arch;
  std::uint64_t base_seed = 0;
  bool cropped = false;
  std::string crop_style = "loose";
  std::string detector = "yunet";
  std::string detector_model;
  float score_threshold = 0.6f;
  std::uint64_t seed = 0;
  double validation_fraction = 0.2;
  TrainingArgs training;
  std::string loss = "ce";
  bool json = false;

  void add_to(CLI::App& app) {
    app.add_option("dir", dir, "folder of DIR/<person>/* photos")->required()->check(CLI::ExistingDirectory);
    auto* m = app.add_option("--model,-m", model, "base CLIP weight file (or name under the models folder)");
    auto* a = app.add_option("--arch", arch, "random-weight base of this architecture (machinery only)");
    m->excludes(a);
    app.add_option("--base-seed", base_seed, "seed of the random-weight base (--arch)");
    app.add_flag("--cropped", cropped, "images are ready face crops (no detection)");
    app.add_option("--crop", crop_style, "aligned crop style: loose or tight")->capture_default_str();
    app.add_option("--detector", detector, "yunet or scrfd")->capture_default_str();
    app.add_option("--detector-model", detector_model, "detector model file");
    app.add_option("--score-threshold", score_threshold, "detector score threshold")->capture_default_str();
    app.add_option("--seed", seed, "seed of the 80/20 split and the batch order")->capture_default_str();
    app.add_option("--val-fraction", validation_fraction, "validation share per person")->capture_default_str();
    training.add_to(app);
    app.add_option("--threads", training.train.threads, "intra-op threads (0 = all cores)");
    app.add_flag("--json", json, "machine-readable output on stdout");
  }

  void check_base() const {
    if (model.empty() == arch.empty()) throw InputError("give the base model: --model FILE or --arch NAME");
  }

  ClipModel load_base() const {
    ClipLoadOptions options;
    options.runtime.threads = training.train.threads;
    return arch.empty() ? ClipModel::load(model, options)
                        : ClipModel::random(arch, options, base_seed);
  }

  ft::FaceSetOptions face_options() const {
    ft::FaceSetOptions o;
    o.cropped = cropped;
    o.crop_style = parse_crop_style(crop_style);
    o.detector.kind = detector;
    o.detector.model = detector_model;
    o.detector.score_threshold = score_threshold;
    return o;
  }

  ft::TrainOptions options() const {
    ft::TrainOptions o = training.options();
    o.loss = ft::parse_loss(loss);
    return o;
  }
};

std::string percent(double v) {
  if (v < 0) return "n/a";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v);
  return buf;
}

json epochs_json(const ft::TrainReport& report) {
  json epochs = json::array();
  for (const auto& e : report.epochs) {
    epochs.push_back({{"epoch", e.epoch},
                      {"loss", e.loss},
                      {"train_accuracy", e.train_accuracy},
                      {"validation_accuracy", e.validation_accuracy},
                      {"seconds", e.seconds}});
  }
  return epochs;
}

void print_skipped(const ft::FaceSet& data) {
  for (const auto& s : data.skipped) std::fprintf(stderr, "skipped %s\n", s.c_str());
}

// ---------------------------------------------------------------------------------------------

const bool finetune_registered = register_command(
    "finetune", "fine-tune CLIP's text tower on DIR/<person>/* photos (prompt classifier)",
    [](CLI::App& app) -> Runner {
      auto args = std::make_shared<TrainArgs>();
      auto out = std::make_shared<std::string>();
      auto template_text = std::make_shared<std::string>(ft::kPaperTemplate);
      args->add_to(app);
      app.add_option("--out,-o", *out, "classifier file to write (safetensors)")->required();
      app.add_option("--template", *template_text, "prompt template; {} is the name")->capture_default_str();
      app.add_option("--loss", args->loss, "ce, arcface or triplet")->capture_default_str();
      return [args, out, template_text]() -> int {
        args->check_base();
        ft::TrainOptions options = args->options();
        options.prompt_template = *template_text;
        ft::validate(options);
        ft::check_writable(*out);  // before minutes of work, not after
        ClipModel model = args->load_base();
        const bool random = model.info().random_weights;
        if (random) std::fprintf(stderr, "%s\n", kRandomBanner);
        const ft::FaceSet data = ft::embed_face_folders(model, args->dir, args->face_options());
        print_skipped(data);
        const ft::Split split =
            ft::split_per_person(data.labels, args->seed, args->validation_fraction);
        std::fprintf(stderr, "%zu people, %zu training and %zu validation faces\n",
                     data.classes.size(), split.train.size(), split.validation.size());
        if (!args->json) {
          options.on_epoch = [&](const ft::EpochStats& s) {
            std::fprintf(stderr, "epoch %d/%d  loss %.4f  train %s  val %s  (%.1fs)\n", s.epoch,
                         options.epochs, s.loss, percent(s.train_accuracy).c_str(),
                         percent(s.validation_accuracy).c_str(), s.seconds);
          };
        }
        const ft::TrainReport report = ft::train_prompts(model, data, split, options);
        ft::save_classifier(*out, model, data, split, options, report, args->base_seed);
        if (args->json) {
          std::cout << json{{"out", *out},
                            {"classes", data.classes},
                            {"random_weights", random},
                            {"train_images", split.train.size()},
                            {"validation_images", split.validation.size()},
                            {"skipped", data.skipped},
                            {"best_epoch", report.best_epoch},
                            {"train_accuracy", report.train_accuracy},
                            {"validation_accuracy", report.validation_accuracy},
                            {"zero_shot_validation_accuracy", report.initial_validation_accuracy},
                            {"steps", report.steps},
                            {"context_length", report.context_length},
                            {"seconds_per_step", report.seconds_per_step},
                            {"epochs", epochs_json(report)}}
                           .dump()
                    << "\n";
        } else {
          if (random) std::printf("%s\n", kRandomBanner);
          std::printf("kept epoch %d: train %s, validation %s (zero-shot validation %s)\n",
                      report.best_epoch, percent(report.train_accuracy).c_str(),
                      percent(report.validation_accuracy).c_str(),
                      percent(report.initial_validation_accuracy).c_str());
          std::printf("%d steps, %.3f s/step, %d-token context\n", report.steps,
                      report.seconds_per_step, report.context_length);
          std::printf("wrote %s (%zu people)\n", out->c_str(), data.classes.size());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
