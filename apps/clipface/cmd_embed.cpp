// clipface embed: CLIP embeddings of images and texts and their similarity table.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/paths.hpp"
#include "command.hpp"
#include "inputs.hpp"

namespace clipface::app {
namespace {

struct EmbedArgs {
  std::string model;
  std::string arch;
  std::vector<std::string> images;
  std::vector<std::string> texts;
  std::string device = "cpu";
  std::string precision = "auto";
  int threads = 0;
  int batch_size = 32;
  bool json = false;
  bool no_normalize = false;
  InputPolicy policy;
};

nlohmann::json rows_json(const Matrix& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t r = 0; r < m.rows; ++r) {
    rows.push_back(std::vector<float>(m.row(r).begin(), m.row(r).end()));
  }
  return rows;
}

std::string random_warning(const ClipInfo& info) {
  return "RANDOM WEIGHTS: " + info.name +
         " was built with random weights (--arch); its embeddings and similarities are meaningless";
}

int run_embed(EmbedArgs args) {
  if (args.model.empty() == args.arch.empty()) {
    throw InputError("give exactly one of --model FILE|NAME and --arch ARCHITECTURE");
  }
  if (args.images.empty() && args.texts.empty()) {
    throw InputError("nothing to embed: give --image and/or --text");
  }
  SkipList skips;
  const std::vector<std::filesystem::path> files(args.images.begin(), args.images.end());
  if (args.policy.strict) require_readable_images(files);
  ClipLoadOptions options;
  options.runtime.device = parse_device(args.device);
  options.runtime.precision = parse_precision(args.precision);
  options.runtime.threads = args.threads;
  options.runtime.batch_size = args.batch_size;
  const ClipModel model = args.arch.empty()
                              ? ClipModel::load(find_model_file(args.model).string(), options)
                              : ClipModel::random(args.arch, options);
  const ClipInfo& info = model.info();

  std::vector<cv::Mat> images;
  std::vector<std::string> used;
  for (const auto& path : args.images) {
    try {
      images.push_back(load_image(path));
      used.push_back(path);
      skips.use();
    } catch (const ImageError& e) {
      skips.skip(path, e.reason(), e.exit_code());
    }
  }
  args.images = used;  // rows below are the images that were read
  if (images.empty() && args.texts.empty()) return skips.exit_code(args.policy);
  const bool normalize = !args.no_normalize;
  const Matrix image_embeds = model.encode_images(images, ImageResize::center_crop, normalize);
  const Matrix text_embeds = model.encode_texts(args.texts, normalize);

  // Cosine from unit rows whatever --no-normalize says; probabilities as CLIP's logits_per_image.
  Matrix image_unit = image_embeds, text_unit = text_embeds;
  normalize_rows(image_unit);
  normalize_rows(text_unit);
  const float scale = model.logit_scale();
  Matrix cosine(images.size(), args.texts.size()), probs(images.size(), args.texts.size());
  for (std::size_t i = 0; i < cosine.rows; ++i) {
    float top = -INFINITY;
    for (std::size_t t = 0; t < cosine.cols; ++t) {
      cosine.at(i, t) = dot(image_unit.row(i), text_unit.row(t));
      top = std::max(top, scale * cosine.at(i, t));
    }
    float sum = 0;
    for (std::size_t t = 0; t < cosine.cols; ++t)
      sum += probs.at(i, t) = std::exp(scale * cosine.at(i, t) - top);
    for (std::size_t t = 0; t < cosine.cols; ++t) probs.at(i, t) /= sum;
  }

  if (args.json) {
    if (info.random_weights)
      std::fprintf(stderr, "clipface: warning: %s\n", random_warning(info).c_str());
    nlohmann::json out;
    out["model"] = {{"name", info.name},
                    {"path", info.path},
                    {"sha256", info.sha256},
                    {"format", info.format},
                    {"vision", info.vision},
                    {"embed_dim", info.embed_dim},
                    {"image_size", info.image_size},
                    {"activation", info.activation},
                    {"random_weights", info.random_weights}};
    if (info.random_weights) out["warning"] = random_warning(info);
    out["device"] = to_string(model.runtime().device);
    out["precision"] = to_string(model.runtime().precision);
    out["normalized"] = normalize;
    out["logit_scale"] = scale;
    out["images"] = args.images;
    out["texts"] = args.texts;
    out["image_embeddings"] = rows_json(image_embeds);
    out["text_embeddings"] = rows_json(text_embeds);
    out["cosine"] = rows_json(cosine);
    out["probabilities"] = rows_json(probs);
    out["skipped"] = skips.json();
    std::cout << out.dump() << "\n";
    skips.print_summary("images");
    return skips.exit_code(args.policy);
  }

  if (info.random_weights) {
    std::printf("*** %s ***\n", random_warning(info).c_str());
  }
  std::printf("model: %s (%s, %s tower, embed %d, %s)%s%s\n", info.name.c_str(),
              info.format.c_str(), info.vision.c_str(), info.embed_dim, info.activation.c_str(),
              info.sha256.empty() ? "" : " sha256 ", info.sha256.substr(0, 12).c_str());
  std::printf("%zu image(s), %zu text(s), embeddings %s\n", images.size(), args.texts.size(),
              normalize ? "L2-normalised" : "not normalised");
  skips.print_summary("images");
  if (cosine.rows == 0 || cosine.cols == 0) return skips.exit_code(args.policy);
  for (std::size_t t = 0; t < args.texts.size(); ++t)
    std::printf("  [t%zu] %s\n", t + 1, args.texts[t].c_str());

  auto print_table = [&](const char* title, const Matrix& m) {
    std::printf("\n%s\n%-28s", title, "image");
    for (std::size_t t = 0; t < m.cols; ++t)
      std::printf(" %8s", ("t" + std::to_string(t + 1)).c_str());
    std::printf("\n");
    for (std::size_t i = 0; i < m.rows; ++i) {
      std::string name = std::filesystem::path(args.images[i]).filename().string();
      if (name.size() > 28) name = name.substr(0, 25) + "...";
      std::printf("%-28s", name.c_str());
      for (std::size_t t = 0; t < m.cols; ++t) std::printf(" %8.4f", m.at(i, t));
      std::printf("\n");
    }
  };
  print_table("cosine similarity", cosine);
  print_table(
      ("softmax over texts of logit_scale * cosine (logit_scale " + std::to_string(scale) + ")")
          .c_str(),
      probs);
  return skips.exit_code(args.policy);
}

const bool registered = register_command(
    "embed", "CLIP embeddings of images and texts, and their similarity table",
    [](CLI::App& app) -> Runner {
      auto args = std::make_shared<EmbedArgs>();
      app.add_option("-m,--model", args->model,
                     "CLIP weight file, or a name under the models folder");
      app.add_option(
          "--arch", args->arch,
          "build an official architecture with RANDOM weights (speed tests): ViT-B-32, RN50, ...");
      app.add_option("-i,--image", args->images, "image files")->expected(1, -1);
      app.add_option("-t,--text", args->texts, "texts (prompts)")->expected(1, -1);
      app.add_option("--device", args->device, "cpu or cuda")->capture_default_str();
      app.add_option("--threads", args->threads, "intra-op threads (0 = all cores)")
          ->capture_default_str();
      app.add_option("--batch-size", args->batch_size, "images or texts per forward pass")
          ->capture_default_str();
      app.add_option("--precision", args->precision,
                     "auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16")
          ->capture_default_str()
          ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
      app.add_flag("--json", args->json, "print embeddings and similarities as JSON");
      app.add_flag("--no-normalize", args->no_normalize,
                   "print raw (not L2-normalised) embeddings");
      args->policy.add_to(app);
      return [args] { return run_embed(*args); };
    });

}  // namespace
}  // namespace clipface::app
