// clipface cloak IMG... --out DIR: Fawkes- or LowKey-style cloaks made with the gradients of real
// models; each cloaked picture keeps its base name as PNG (and JPEG on request). Every input is
// read and checked before any model work (the CLI's rule for skipped inputs, inputs.hpp), every
// file is written whole (temporary name, rename), and stdout carries only the results.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>

#include "clipface/cloak.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/dataset.hpp"
#include "clipface/eval/protocols.hpp"
#include "clipface/image.hpp"
#include "clipface/paths.hpp"
#include "command.hpp"
#include "inputs.hpp"

namespace clipface::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CloakArgs {
  std::vector<std::string> inputs;
  std::string out;
  std::string method = "fawkes";
  std::string level = "mid";
  std::string models = "dlib";
  std::string targets;
  int jpeg = 0;
  int steps = -1;
  int max_linf = -1;
  double max_dssim = -1;
  float min_face = 32;
  int batch = 4;
  bool separate_targets = false;
  bool json = false;
  InputPolicy policy;
  int threads = 0;
  DetectorOptions detector;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

cloak::CloakOptions to_options(const CloakArgs& a) {
  cloak::CloakOptions o;
  o.method = cloak::parse_method(a.method);
  o.level = cloak::parse_level(a.level);
  o.models = split_commas(a.models);
  if (o.models.empty()) throw InputError("--models names no model");
  if (a.steps >= 0) o.steps = a.steps;
  if (a.max_linf >= 0) o.max_linf = a.max_linf;
  if (a.max_dssim >= 0) o.max_dssim = a.max_dssim;
  o.min_face = a.min_face;
  o.batch_size = a.batch;
  o.separate_targets = a.separate_targets;
  o.runtime.threads = a.threads;
  return o;
}

void write_image(const fs::path& path, const cv::Mat& image, const std::vector<int>& params) {
  std::vector<unsigned char> bytes;
  if (!cv::imencode(path.extension().string(), image, bytes, params))
    throw InputError("cannot encode " + path.string());
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

std::string fmt(double v, int digits) {
  if (std::isinf(v)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

int run(const CloakArgs& a) {
  cloak::CloakOptions options = to_options(a);  // InputError for bad names, before any work
  if (a.jpeg < 0 || a.jpeg > 100) throw InputError("--jpeg takes a quality of 1..100");
  if (options.method == cloak::Method::fawkes && a.targets.empty()) {
    throw InputError(
        "fawkes needs --targets DIR: photos of other people (DIR/<person>/*) to choose a "
        "dissimilar target identity from");
  }
  const fs::path out_dir(a.out);
  const auto files = expand_image_inputs(a.inputs);
  if (files.empty()) throw InputError("no input images");

  // Read and check everything first: every skip is known before anything is written.
  const auto detector = make_detector(a.detector);
  cloak::Cloaker cloaker(options);
  std::vector<cloak::CloakInput> usable;
  std::vector<SkippedInputsError::Input> refused;
  std::set<std::string> names;
  for (const auto& file : files) {
    const std::string stem = file.stem().string();
    if (!names.insert(stem).second)
      throw InputError("two inputs would both be written as " + stem + ".png: " + file.string());
    if (fs::exists(out_dir / (stem + ".png")) && fs::exists(file) &&
        fs::equivalent(out_dir / (stem + ".png"), file)) {
      throw InputError("the cloaked picture would overwrite its input: " + file.string());
    }
    cloak::CloakInput in{file.string(), {}, {}};
    try {
      in.image = load_image(file);
    } catch (const ImageError& e) {
      refused.push_back({file.string(), e.reason(), e.exit_code()});
      continue;
    }
    in.faces = detector->detect(in.image);
    if (const std::string why = cloaker.check(in); !why.empty()) {
      refused.push_back({file.string(), why, InputError("").exit_code()});
      continue;
    }
    usable.push_back(std::move(in));
  }
  if (a.policy.strict && !refused.empty()) throw SkippedInputsError(refused, files.size());
  SkipList skips;
  for (const auto& r : refused) skips.skip(r.path, r.reason, r.exit_code);
  skips.use(usable.size());
  if (usable.empty()) {
    skips.print_summary("images");
    return skips.exit_code(a.policy);
  }
  if (options.method == cloak::Method::fawkes)
    cloaker.set_target_pool(cloak::read_target_pool(a.targets, *detector));
  if (cloaker.random_weights())
    std::fprintf(stderr, "clipface: warning: %s\n", eval::kRandomWeightsWarning);

  const auto results = cloaker.cloak(usable);
  fs::create_directories(out_dir);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : results) {
    const std::string stem = fs::path(r.name).stem().string();
    const fs::path png = out_dir / (stem + ".png");
    write_image(png, r.image, {});
    fs::path jpg;
    if (a.jpeg > 0) {
      jpg = out_dir / (stem + ".jpg");
      write_image(jpg, r.image, {cv::IMWRITE_JPEG_QUALITY, a.jpeg});
    }
    if (a.json) {
      json j = {{"input", r.name},
                {"output", png.string()},
                {"method", a.method},
                {"level", a.level},
                {"models", options.models},
                {"faces", r.faces},
                {"small_faces", r.small_faces},
                {"region", {r.region.x, r.region.y, r.region.width, r.region.height}},
                {"linf", r.linf},
                {"dssim", r.dssim},
                {"psnr_db", std::isinf(r.psnr) ? json(nullptr) : json(r.psnr)},
                {"psnr_image_db", std::isinf(r.psnr_image) ? json(nullptr) : json(r.psnr_image)},
                {"model_shift", r.model_shift},
                {"seconds", r.seconds}};
      if (!jpg.empty()) j["jpeg"] = jpg.string();
      if (!r.target.empty()) j["target"] = r.target;
      std::cout << j.dump() << "\n";
    } else {
      std::string shift;
      for (double s : r.model_shift) shift += (shift.empty() ? "" : " ") + fmt(s, 3);
      rows.push_back({png.string(), std::to_string(r.faces), std::to_string(r.linf),
                      fmt(r.dssim, 4), fmt(r.psnr, 1), shift, r.target.empty() ? "-" : r.target,
                      fmt(r.seconds, 1)});
    }
  }
  if (!a.json) {
    std::cout << eval::format_table(
        {"output", "faces", "linf", "dssim", "psnr_db", "shift (1-cos)", "target", "seconds"},
        rows);
  }
  if (a.json) {
    for (const auto& skip : skips.json()) std::cout << json{{"skipped", skip}}.dump() << "\n";
  }
  skips.print_summary("images");
  return skips.exit_code(a.policy);
}

const bool registered = register_command(
    "cloak", "cloak photos against face recognition (fawkes or lowkey, PGD on real models)",
    [](CLI::App& app) -> Runner {
      auto a = std::make_shared<CloakArgs>();
      app.add_option("images", a->inputs, "image files or folders of images")->required();
      app.add_option("--out", a->out, "folder for the cloaked pictures (same base names, .png)")
          ->required();
      app.add_option("--method", a->method, "fawkes (targeted, DSSIM budget) | lowkey (untargeted)")
          ->capture_default_str();
      app.add_option("--level", a->level, "low | mid | high")->capture_default_str();
      app.add_option("--models", a->models,
                     "models to cloak against, comma-separated: dlib, clip:<file>, "
                     "clip-random:<arch>")
          ->capture_default_str();
      app.add_option("--targets", a->targets,
                     "fawkes: photos of other people, DIR/<person>/*, to pick the target from");
      app.add_option("--jpeg", a->jpeg, "also write <name>.jpg at this quality (1..100)");
      app.add_option("--steps", a->steps, "PGD steps (default: the level's)");
      app.add_option("--max-linf", a->max_linf,
                     "largest change of a pixel channel in 8-bit levels (default: the level's)");
      app.add_option("--max-dssim", a->max_dssim, "largest DSSIM of the face region (fawkes)");
      app.add_option("--min-face", a->min_face, "refuse faces smaller than this (px)")
          ->capture_default_str();
      app.add_option("--batch", a->batch, "images optimised together")->capture_default_str();
      app.add_flag("--separate-targets", a->separate_targets,
                   "fawkes: a target per image instead of one for all inputs");
      app.add_flag("--json", a->json, "one JSON object per cloaked picture on stdout");
      a->policy.add_to(app);
      app.add_option("--threads", a->threads, "LibTorch threads (0 = all cores)");
      app.add_option("--detector", a->detector.kind, "yunet | scrfd")->capture_default_str();
      app.add_option("--detector-model", a->detector.model, "detector model file");
      app.add_option("--score-threshold", a->detector.score_threshold, "detection score")
          ->capture_default_str();
      return [a]() -> int { return run(*a); };
    });

}  // namespace
}  // namespace clipface::app
