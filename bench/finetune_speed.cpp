// Fine-tuning speed: the full-size ViT-B/32 text tower (random weights) trained on 10 people x
// 10 photos for 10 epochs, seconds per optimizer step, against the same step in eager PyTorch
// (bench/finetune_eager_baseline.py, run by /usr/bin/python3 in the same run, same threads).
//
// The image embeddings are synthetic unit vectors: the image encoder is frozen and its embeddings
// are computed once and cached before training, so a training step never runs it and its cost is
// the same whatever the vectors hold. Random weights: the accuracies printed mean nothing.
//
// Usage: build-*/bench/finetune_speed [--threads 2] [--epochs 10] [--baseline-steps 20]
//                                     [--skip-full] [--python /usr/bin/python3]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "clipface/allocator.hpp"
#include "clipface/clip.hpp"
#include "clipface/finetune.hpp"
#include "clipface/tokenizer.hpp"

namespace ft = clipface::finetune;
using nlohmann::json;

namespace {

const std::vector<std::string> kPeople{"amy", "bernadette", "howard", "leonard", "penny",
                                       "raj", "sheldon",    "stuart", "madonna", "elton_john"};

ft::FaceSet synthetic_faces(int per_person, int dim) {
  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  ft::FaceSet set;
  set.classes = kPeople;
  set.embeddings = clipface::Matrix(0, static_cast<std::size_t>(dim));
  for (std::size_t c = 0; c < kPeople.size(); ++c) {
    for (int i = 0; i < per_person; ++i) {
      for (int d = 0; d < dim; ++d) set.embeddings.data.push_back(normal(rng));
      ++set.embeddings.rows;
      set.labels.push_back(static_cast<int>(c));
      set.paths.push_back("synthetic");
    }
  }
  clipface::normalize_rows(set.embeddings);
  return set;
}

double run(int threads, int epochs, bool truncate, int photos, int* context) {
  clipface::ClipLoadOptions load;
  load.runtime.threads = threads;
  clipface::ClipModel model = clipface::ClipModel::random("ViT-B-32", load, 0);
  const ft::FaceSet data = synthetic_faces(photos, model.info().embed_dim);
  const ft::Split split = ft::split_per_person(data.labels, 0);
  ft::TrainOptions options;  // the paper's defaults: AdamW 5e-6, wd 1e-3, batch 16, cosine
  options.epochs = epochs;
  options.truncate_context = truncate;
  options.progress = false;
  options.threads = threads;
  const ft::TrainReport report = ft::train_prompts(model, data, split, options);
  *context = report.context_length;
  std::fprintf(stderr, "  %s: %d steps, %.3f s/step\n", truncate ? "truncated" : "full 77",
               report.steps, report.seconds_per_step);
  return report.seconds_per_step;
}

}  // namespace

int main(int argc, char** argv) {
  clipface::keep_freed_memory_for_reuse();  // as the CLI does
  int threads = 2, epochs = 10, baseline_steps = 20, photos = 10;
  bool skip_full = false;
  std::string python = "/usr/bin/python3";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--epochs")
      epochs = std::stoi(next());
    else if (a == "--baseline-steps")
      baseline_steps = std::stoi(next());
    else if (a == "--photos")
      photos = std::stoi(next());
    else if (a == "--skip-full")
      skip_full = true;
    else if (a == "--python")
      python = next();
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  ::setenv("CLIPFACE_SHARED", CLIPFACE_DEFAULT_SHARED, /*overwrite=*/0);
  std::fprintf(stderr,
               "ViT-B/32 text tower, RANDOM WEIGHTS (speed only), %zu people x %d photos, "
               "%d epochs, %d threads\n",
               kPeople.size(), photos, epochs, threads);

  int context = 0, full_context = 77;
  const double ours = run(threads, epochs, /*truncate=*/true, photos, &context);
  const double ours_full = skip_full ? 0 : run(threads, epochs, false, photos, &full_context);

  // The same prompts for the baseline.
  const clipface::Tokenizer tokenizer = clipface::Tokenizer::load_default();
  json rows = json::array();
  for (const auto& p : kPeople) {
    rows.push_back(tokenizer.tokenize(ft::fill_template(ft::kPaperTemplate, ft::display_name(p))));
  }
  const std::string tokens_file = "/tmp/clipface_finetune_bench_tokens.json";
  std::ofstream(tokens_file) << rows.dump();
  const int train_images = static_cast<int>(kPeople.size()) * photos * 4 / 5;
  // The same allocator setting as clipface's programs (keep_freed_memory_for_reuse).
  const std::string command =
      "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 " + python + " " +
      CLIPFACE_SOURCE_DIR + "/bench/finetune_eager_baseline.py --threads " +
      std::to_string(threads) + " --tokens " + tokens_file + " --images " +
      std::to_string(train_images) + " --steps " + std::to_string(baseline_steps);
  std::fprintf(stderr, "  eager baseline: %s\n", command.c_str());
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  while (pipe && std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = pipe ? ::pclose(pipe) : -1;
  std::remove(tokens_file.c_str());
  if (status != 0 || out.empty()) {
    std::fprintf(stderr, "eager baseline failed (status %d)\n", status);
    return 1;
  }
  const json eager = json::parse(out);
  const double baseline = eager["seconds_per_step"];

  std::printf("| engine | context | s/step | speed-up vs eager |\n|---|---|---|---|\n");
  std::printf("| eager PyTorch %s (baseline) | 77 | %.3f | 1.00x |\n",
              eager["torch"].get<std::string>().c_str(), baseline);
  if (!skip_full) {
    std::printf("| clipface, full context | %d | %.3f | %.2fx |\n", full_context, ours_full,
                baseline / ours_full);
  }
  std::printf(
      "| clipface (default: truncated context, compact embedding rows) | %d | %.3f | %.2fx |\n",
      context, ours, baseline / ours);
  return 0;
}
