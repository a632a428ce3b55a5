// clipface eval retrieval|grid|openset|verify|scale|prompts DIR, eval compare PROTOCOL DIR with
// several --embedder options, and eval cloak DIR: the evaluation protocols of docs/evaluation.md
// and docs/cloak.md. Parsing and printing only.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "clipface/cloak_eval.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/protocols.hpp"
#include "command.hpp"
#include "inputs.hpp"
#include "train_args.hpp"

namespace clipface::app {
namespace {

struct EvalArgs {
  std::vector<std::string> embedders{"dlib"};
  std::string detector = "yunet";
  std::string detector_model;
  float score_threshold = 0.6f;
  float min_face = 0;
  std::string pick = "centre";
  std::string cache;
  bool no_cache = false;
  std::string crop_style;
  bool flip = false;
  std::string device = "cpu";
  std::string precision = "auto";
  bool json = false;
  ClusterOptions cluster;       // eval cluster
  double calibrate_far = 0.01;  // eval openset
  std::string report;
  std::string output = ".";
  std::uint64_t seed = 0;
  std::size_t max_people = 0;
  double enroll_fraction = 0.5;
  double unknown_fraction = 0;
  std::vector<float> thresholds;  // grid: min max step
  double known_fraction = 0.5;
  int shots = -1;  // unset: the classifier's default
  float confidence = 0.8f;
  std::string classifier = "knn";
  double train_fraction = 0.8;
  double validation_fraction = 0.2;
  TrainingArgs training;
  std::vector<std::string> templates;
  bool only_given = false;
  std::vector<std::string> losses;
  int k1 = 0, k2 = 0;
  float threshold = -1;
  std::vector<std::size_t> people_counts;
  std::string pairs, train_pairs;
  std::size_t max_pairs = 0;
  std::string dir;
  std::string protocol;  // compare only
  InputPolicy policy;
};

// Each image without an embedding becomes a skip line on stderr (and a `skipped` list in JSON).
void record_skips(eval::ProtocolOutput& run, SkipList& skips) {
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& f : run.failures) {
    skips.skip(f.image.path.string(), f.reason, f.exit_code);
    listed.push_back(skip_json(f.image.path.string(), f.reason, f.exit_code));
  }
  skips.use(run.images - run.failures.size());
  run.json["skipped"] = listed;
}

void add_common(CLI::App& sub, EvalArgs& a, bool several_embedders) {
  sub.add_option("DIR", a.dir, "labelled folder DIR/<person>/* (verify: the LFW image folder)")
      ->required();
  if (several_embedders) {
    sub.add_option("--embedder", a.embedders,
                   "embedders to compare: dlib | clip:<file> | clip-random:<arch> (repeat)")
        ->required();
  } else {
    sub.add_option("--embedder", a.embedders,
                   "dlib | mobilefacenet | mobileface | faceres | clip:<file> | clip-random:<arch>")
        ->expected(1);
  }
  sub.add_option("--seed", a.seed, "seed of every split and sampling (default 0)");
  sub.add_flag("--json", a.json, "print JSON instead of tables");
  sub.add_option("--report", a.report, "write an HTML report with charts into this folder");
  sub.add_option("--detector", a.detector, "yunet | scrfd");
  sub.add_option("--detector-model", a.detector_model, "detector model file");
  sub.add_option("--score-threshold", a.score_threshold, "detector score threshold (0.6)");
  sub.add_option("--min-face", a.min_face, "smallest face side in pixels");
  sub.add_option("--face", a.pick, "which face of an image: centre (nearest the centre) | largest");
  sub.add_option("--cache", a.cache, "embedding cache folder ($CLIPFACE_HOME/cache/embeddings)");
  sub.add_flag("--no-cache", a.no_cache, "compute every embedding again, store nothing");
  sub.add_option("--crop-style", a.crop_style, "tight | loose (CLIP embedders)");
  sub.add_flag("--flip", a.flip, "average the embedding of the mirrored crop in (test-time flip)");
  sub.add_option("--device", a.device, "cpu | cuda");
  sub.add_option("--precision", a.precision, "CLIP: auto (bf16 where native) | fp32 | bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  sub.add_option("--max-people", a.max_people, "use only the first N people (sorted by name)");
  a.policy.add_to(sub);
}

void add_protocol_options(CLI::App& sub, EvalArgs& a, const std::string& protocol) {
  const bool all = protocol == "compare";
  if (all || protocol == "grid" || protocol == "scale") {
    sub.add_option("--enroll-fraction", a.enroll_fraction,
                   "share of each person's images enrolled (0.5)");
  }
  if (all || protocol == "grid") {
    sub.add_option("--unknown-fraction", a.unknown_fraction,
                   "share of people never enrolled, whose images query as strangers (0)");
    sub.add_option("--output", a.output, "folder for grid_search_results.csv (.)");
    sub.add_option("--thresholds", a.thresholds,
                   "L2 thresholds of the grid: MIN MAX STEP (0.50 1.00 0.01, the paper's; dlib's "
                   "best lie lower, e.g. 0.30 0.70 0.01)")
        ->expected(3);
  }
  const bool openset = all || protocol == "openset", prompts = all || protocol == "prompts";
  if (openset || prompts) {
    sub.add_option("--known-fraction", a.known_fraction, "share of people enrolled (0.5)");
    sub.add_option("--shots", a.shots,
                   openset ? "images enrolled per known person (knn: 1; prompts: --train-fraction)"
                           : "images trained on per known person (default: --train-fraction)");
    sub.add_option("--confidence", a.confidence,
                   "confidence below which a face is not recognised (0.80)");
  }
  if (openset) {
    sub.add_option("--classifier", a.classifier,
                   "knn (gallery vote) | prompts (fine-tuned text tower; CLIP embedders)");
  }
  if (openset || prompts) {
    sub.add_option("--train-fraction", a.train_fraction,
                   "prompts: share of each known person's images trained on (0.8)");
    sub.add_option("--val-fraction", a.validation_fraction,
                   "prompts: share of the training images kept for the best epoch (0.2)");
    a.training.add_to(sub);
    // One template per --template (they are free text; repeat the option for several).
    sub.add_option("--template", a.templates,
                   prompts && !openset ? "a template to study besides the paper's three (repeat)"
                                       : "prompt template; {} is the name")
        ->allow_extra_args(false);
    sub.add_option("--loss", a.losses,
                   prompts && !openset ? "losses to compare: ce arcface triplet (default ce)"
                                       : "ce, arcface or triplet");
  }
  if (prompts) {
    sub.add_flag("--only-given", a.only_given,
                 "study only the --template values, not the paper's three");
  }
  if (all || protocol == "openset" || protocol == "scale") {
    sub.add_option("--k1", a.k1, "vote rule k1 (openset: 1; scale: the embedder's default)");
    sub.add_option("--k2", a.k2, "vote rule k2 (openset: 1; scale: the embedder's default)");
    sub.add_option(
        "--threshold", a.threshold,
        "vote rule L2 threshold (openset: 2.0, all vote; scale: the embedder's default)");
  }
  if (all || protocol == "scale") {
    sub.add_option("--people", a.people_counts, "people counts to test (default 5 10 20 ... all)");
  }
  if (all || protocol == "openset") {
    sub.add_option("--calibrate-far", a.calibrate_far,
                   "kNN: also report FAR/FRR on held-out probes at the gallery vote calibrated "
                   "for this FAR (0.01)");
  }
  if (all || protocol == "cluster") {
    sub.add_option("--radius", a.cluster.radius,
                   "clipface's neighbourhood radius, cosine distance (default: the embedder's "
                   "vote threshold as a cosine distance)");
    sub.add_option("--min-faces", a.cluster.min_faces, "faces that make a core face (3)");
    sub.add_option("--link-radius", a.cluster.link_radius,
                   "mean cosine distance below which groups join (default: the vote threshold "
                   "as a cosine distance, whatever the radius)");
  }
  if (all || protocol == "verify") {
    sub.add_option("--pairs", a.pairs,
                   "LFW pairs file: View 2 pairs.txt or View 1 pairsDevTest.txt");
    sub.add_option("--train-pairs", a.train_pairs,
                   "View 1: pairsDevTrain.txt (found beside --pairs)");
    sub.add_option("--max-pairs", a.max_pairs,
                   "View 1: use only the first N/2 same and N/2 different pairs of each file");
  }
}

// The prompt classifier's training: one template and loss for openset, the study's lists for
// prompts.
void set_training(eval::ProtocolOptions& o, const EvalArgs& a, const std::string& protocol) {
  o.classifier = a.classifier;
  o.train_fraction = a.train_fraction;
  o.validation_fraction = a.validation_fraction;
  o.training = a.training.options();
  std::vector<finetune::Loss> losses;
  for (const auto& name : a.losses) losses.push_back(finetune::parse_loss(name));
  if (protocol == "prompts") {
    if (a.only_given && a.templates.empty()) throw InputError("--only-given needs --template");
    if (!a.only_given) o.templates = finetune::kStudyTemplates;
    o.templates.insert(o.templates.end(), a.templates.begin(), a.templates.end());
    o.losses = losses;
    return;
  }
  if (a.templates.size() > 1 || losses.size() > 1) {
    throw InputError("eval " + protocol +
                     " takes one --template and one --loss (eval prompts compares several)");
  }
  if (!a.templates.empty()) o.training.prompt_template = a.templates[0];
  if (!losses.empty()) o.training.loss = losses[0];
}

eval::ProtocolOptions to_options(const EvalArgs& a, const std::string& embedder,
                                 const std::string& protocol) {
  eval::ProtocolOptions o;
  o.embedder_spec = embedder;
  o.embedder.crop_style = a.crop_style;
  o.embedder.flip_average = a.flip;
  o.embedder.runtime.device = parse_device(a.device);
  o.embedder.runtime.precision = parse_precision(a.precision);
  o.embed.detector.kind = a.detector;
  o.embed.detector.model = a.detector_model;
  o.embed.detector.score_threshold = a.score_threshold;
  o.embed.detector.min_face_size = a.min_face;
  o.embed.pick = parse_face_pick(a.pick);
  if (!a.cache.empty()) o.embed.cache_dir = a.cache;
  o.embed.use_cache = !a.no_cache;
  o.embed.strict = a.policy.strict;
  o.seed = a.seed;
  o.report_dir = a.report;
  o.output_dir = a.output;
  o.max_people = a.max_people;
  o.enroll_fraction = a.enroll_fraction;
  o.unknown_fraction = a.unknown_fraction;
  if (!a.thresholds.empty()) {
    o.grid.threshold_min = a.thresholds[0];
    o.grid.threshold_max = a.thresholds[1];
    o.grid.threshold_step = a.thresholds[2];
    eval::validate(o.grid);
  }
  o.known_fraction = a.known_fraction;
  if (a.shots >= 0) o.shots = a.shots;
  o.confidence_threshold = a.confidence;
  set_training(o, a, protocol);
  if (a.k1) o.k1 = a.k1;
  if (a.k2) o.k2 = a.k2;
  if (a.threshold >= 0) o.threshold = a.threshold;
  o.people_counts = a.people_counts;
  o.pairs = a.pairs;
  o.train_pairs = a.train_pairs;
  o.max_pairs = a.max_pairs;
  o.cluster = a.cluster;
  o.calibrate_far = a.calibrate_far;
  return o;
}

std::string folder_name(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return out;
}

// eval cloak: its own options (the cloaks' and the two protocols'); see cloak_eval.hpp.
struct CloakEvalArgs {
  std::string dir;
  std::vector<std::string> methods{"fawkes", "lowkey"};
  std::string level = "mid";
  std::vector<std::string> models{"dlib"}, victims{"dlib"};
  int steps = -1;
  std::size_t min_images = 5, max_people = 0;
  std::string targets;
  double enroll_fraction = 0.5;
  int jpeg_quality = 75;
  double blur_sigma = 1.0;
  std::string output = ".";
  std::string detector = "yunet", detector_model, cache;
  bool no_cache = false, json = false;
  int threads = 0;
};

void add_cloak_eval(CLI::App& app, const std::shared_ptr<CloakEvalArgs>& a,
                    const std::shared_ptr<std::string>& active) {
  CLI::App* sub = app.add_subcommand(
      "cloak",
      "do Fawkes/LowKey cloaks hide people? the study's retrieval protocol and Fawkes' "
      "threat model, per victim model, with a transfer matrix and defences");
  sub->add_option("DIR", a->dir, "labelled folder DIR/<person>/*")->required();
  sub->add_option("--methods", a->methods, "fawkes lowkey (both by default)");
  sub->add_option("--level", a->level, "low | mid | high (mid)");
  sub->add_option("--models", a->models, "models the cloaks are made on, each alone (dlib)");
  sub->add_option("--victims", a->victims, "embedders measured (dlib)");
  sub->add_option("--steps", a->steps, "PGD steps (default: the level's)");
  sub->add_option("--min-images", a->min_images, "people with this many photos are evaluated (5)");
  sub->add_option("--max-people", a->max_people, "evaluate only the first N of them");
  sub->add_option("--targets", a->targets,
                  "fawkes' candidate targets DIR/<person>/* (default: the people of DIR with "
                  "fewer photos)");
  sub->add_option("--enroll-fraction", a->enroll_fraction,
                  "Fawkes protocol: share of a person's photos enrolled (0.5)");
  sub->add_option("--jpeg-quality", a->jpeg_quality, "the JPEG defence's quality (75)");
  sub->add_option("--blur-sigma", a->blur_sigma, "the blur defence's Gaussian sigma, px (1.0)");
  sub->add_option("--output", a->output, "folder for the CSV files and PNG charts (.)");
  sub->add_option("--detector", a->detector, "yunet | scrfd");
  sub->add_option("--detector-model", a->detector_model, "detector model file");
  sub->add_option("--cache", a->cache, "embedding cache folder of the clean photos");
  sub->add_flag("--no-cache", a->no_cache, "compute every clean embedding again");
  sub->add_option("--threads", a->threads, "LibTorch threads (0 = all cores)");
  sub->add_flag("--json", a->json, "print JSON instead of tables");
  sub->callback([active] { *active = "cloak"; });
}

int run_cloak_eval(const CloakEvalArgs& a) {
  cloak::CloakEvalOptions o;
  o.methods.clear();
  for (const auto& m : a.methods) o.methods.push_back(cloak::parse_method(m));
  o.level = cloak::parse_level(a.level);
  o.surrogates = a.models;
  o.victims = a.victims;
  if (a.steps >= 0) o.steps = a.steps;
  o.min_images = a.min_images;
  o.max_people = a.max_people;
  o.targets = a.targets;
  o.enroll_fraction = a.enroll_fraction;
  o.jpeg_quality = a.jpeg_quality;
  o.blur_sigma = a.blur_sigma;
  o.output_dir = a.output;
  o.embed.detector.kind = a.detector;
  o.embed.detector.model = a.detector_model;
  if (!a.cache.empty()) o.embed.cache_dir = a.cache;
  o.embed.use_cache = !a.no_cache;
  o.runtime.threads = a.threads;
  const auto out = cloak::run_cloak_eval(a.dir, o);
  if (a.json) {
    std::cout << out.json.dump(2) << "\n";
  } else {
    std::cout << out.text;
    for (const auto& f : out.files) std::cout << "wrote " << f.string() << "\n";
  }
  return 0;
}

Runner setup(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto active = std::make_shared<std::string>();
  app.require_subcommand(1);
  const std::pair<const char*, const char*> protocols[] = {
      {"retrieval", "top-1/top-5 identity retrieval over an exact L2 index of all images"},
      {"grid", "k1/k2/threshold grid search of the identify classifier (grid_search_results.csv)"},
      {"openset", "open-set deployment: enrolled vs never-seen people, accuracy/FPR/FNR"},
      {"verify", "LFW pair verification (View 1 train/test or View 2 ten folds), AUC, TAR"},
      {"scale", "load time and metrics as the number of people grows"},
      {"prompts", "prompt template x loss study of the fine-tuned prompt classifier, side by side"},
      {"cluster",
       "clustering of unlabelled faces against the truth: clipface, DBSCAN, Chinese Whispers"}};
  for (const auto& [name, description] : protocols) {
    CLI::App* sub = app.add_subcommand(name, description);
    add_common(*sub, *args, false);
    add_protocol_options(*sub, *args, name);
    sub->callback([active, n = std::string(name)] { *active = n; });
  }
  CLI::App* compare =
      app.add_subcommand("compare", "run one protocol for several embedders, side by side");
  compare
      ->add_option("PROTOCOL", args->protocol,
                   "retrieval | grid | openset | verify | scale | prompts | cluster")
      ->required();
  add_common(*compare, *args, true);
  add_protocol_options(*compare, *args, "compare");
  compare->callback([active] { *active = "compare"; });
  auto cloak_args = std::make_shared<CloakEvalArgs>();
  add_cloak_eval(app, cloak_args, active);

  return [args, active, cloak_args]() -> int {
    if (*active == "cloak") return run_cloak_eval(*cloak_args);
    const EvalArgs& a = *args;
    if (*active != "compare") {
      if (a.embedders.size() != 1)
        throw InputError("give one --embedder (use 'eval compare' for several)");
      auto out = eval::run_protocol(*active, a.dir, to_options(a, a.embedders[0], *active));
      SkipList skips;
      record_skips(out, skips);
      if (a.json) {
        std::cout << out.json.dump(2) << "\n";
      } else {
        std::cout << out.text;
        if (!out.report.empty()) std::cout << "report: " << out.report.string() << "\n";
      }
      skips.print_summary("images");
      return skips.exit_code(a.policy);
    }
    for (const auto& embedder : a.embedders) {
      eval::check_options(a.protocol, to_options(a, embedder, a.protocol));  // fail before work
    }
    std::vector<eval::ProtocolOutput> runs;
    for (const auto& embedder : a.embedders) {
      auto options = to_options(a, embedder, a.protocol);
      if (!a.report.empty())
        options.report_dir = std::filesystem::path(a.report) / folder_name(embedder);
      if (a.protocol == "grid")
        options.output_dir = std::filesystem::path(a.output) / folder_name(embedder);
      runs.push_back(eval::run_protocol(a.protocol, a.dir, options));
    }
    SkipList skips;
    for (auto& run : runs) record_skips(run, skips);
    if (a.json) {
      nlohmann::json j = {{"protocol", a.protocol}, {"runs", nlohmann::json::array()}};
      for (const auto& run : runs) j["runs"].push_back(run.json);
      std::cout << j.dump(2) << "\n";
    } else {
      for (const auto& run : runs) std::cout << "== " << run.embedder << "\n" << run.text << "\n";
      std::cout << "== " << a.protocol << ", side by side\n" << eval::side_by_side(runs);
    }
    skips.print_summary("images");
    return skips.exit_code(a.policy);
  };
}

const bool registered = register_command(
    "eval", "evaluate embedders: retrieval, grid, openset, verify, scale, prompts, compare, cloak",
    setup);

}  // namespace
}  // namespace clipface::app
