// CLIP engine throughput on this CPU, against eager PyTorch measured in the same run.
//
//   build/bench/clip_speed [--arch ViT-B-32 RN50] [--repeats 5] [--threads 0] [--no-baseline]
//
// For each architecture (random weights: the same FLOPs as real ones) and batch size 1 and 32,
// images/s in fp32 and bf16, the ratio to eager PyTorch fp32 and bf16 autocast (run by
// bench/clip_eager_baseline.py with /usr/bin/python3, same thread count), the GFLOP/s achieved as
// a share of the machine's peak, and the cosine between bf16 and fp32 embeddings. Medians.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clipface/clip.hpp"

namespace {
using namespace clipface;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

template <typename F>
double median_seconds(F&& f, int repeats) {
  f();  // warm-up: allocations, oneDNN primitive creation, weight reordering
  std::vector<double> samples;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    f();
    samples.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(samples);
}

// Peak fp32 FLOP/s: cores x clock x 32 (two 256-bit FMA pipes per Zen 4 core, as AVX-512 is
// double-pumped there). bf16 dot products (VDPBF16PS) double it.
double peak_fp32_gflops(int threads) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  double mhz = 0;
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("cpu MHz", 0) == 0) mhz = std::max(mhz, std::stod(line.substr(line.find(':') + 1)));
  }
  return threads * mhz / 1000.0 * 32.0;
}

double min_row_cosine(const Matrix& a, const Matrix& b) {
  double worst = 1.0;
  for (std::size_t i = 0; i < a.rows; ++i) worst = std::min<double>(worst, dot(a.row(i), b.row(i)));
  return worst;
}

nlohmann::json run_baseline(const std::vector<std::string>& archs, int threads, int repeats) {
  std::string cmd = "/usr/bin/python3 " CLIPFACE_SOURCE_DIR "/bench/clip_eager_baseline.py --threads " +
                    std::to_string(threads) + " --repeats " + std::to_string(repeats) + " --arch";
  for (const auto& a : archs) cmd += " " + a;
  std::FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {};
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  if (pclose(pipe) != 0 || out.empty()) {
    std::fprintf(stderr, "baseline failed: %s\n", cmd.c_str());
    return {};
  }
  return nlohmann::json::parse(out.substr(out.rfind('{', out.find("\"torch\""))));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> archs;
  int repeats = 5;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  bool baseline = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats" && i + 1 < argc) repeats = std::stoi(argv[++i]);
    else if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (arg == "--no-baseline") baseline = false;
    else if (arg == "--arch") {
      while (i + 1 < argc && argv[i + 1][0] != '-') archs.emplace_back(argv[++i]);
    }
  }
  if (archs.empty()) archs = {"ViT-B-32", "RN50"};

  // Eager PyTorch first, so the two never compete for the cores.
  const nlohmann::json eager = baseline ? run_baseline(archs, threads, repeats) : nlohmann::json{};
  std::map<std::string, double> eager_rate, gflops;  // key: tower/arch/batch/precision
  if (eager.contains("results")) {
    for (const auto& r : eager["results"]) {
      const std::string key = r["tower"].get<std::string>() + "/" + r["arch"].get<std::string>() +
                              "/" + std::to_string(r["batch"].get<int>()) + "/" +
                              r["precision"].get<std::string>();
      eager_rate[key] = r["per_second"];
      gflops[r["tower"].get<std::string>() + "/" + r["arch"].get<std::string>()] = r["gflops_per_item"];
    }
  }
  const double peak = peak_fp32_gflops(threads);
  std::printf("threads %d, peak fp32 %.0f GFLOP/s (bf16 %.0f), repeats %d, medians\n\n", threads,
              peak, 2 * peak, repeats);
  std::printf("| tower | model | batch | precision | items/s | vs eager fp32 | vs eager bf16 autocast "
              "| GFLOP/s | share of peak | cosine to fp32 |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");

  auto row = [&](const std::string& tower, const std::string& arch, int batch,
                 const std::string& precision, double rate, double cosine) {
    const std::string base = tower + "/" + arch + "/" + std::to_string(batch) + "/";
    auto ratio = [&](const std::string& p) {
      const auto it = eager_rate.find(base + p);
      return it == eager_rate.end() ? std::string("n/a") : [&] {
        char b[32];
        std::snprintf(b, sizeof b, "%.2fx", rate / it->second);
        return std::string(b);
      }();
    };
    const double g = gflops.count(tower + "/" + arch) ? gflops[tower + "/" + arch] * rate : 0;
    const double share = g / (precision == "bf16" ? 2 * peak : peak);
    std::printf("| %s | %s | %d | %s | %.1f | %s | %s | %.0f | %.0f%% | %.5f |\n", tower.c_str(),
                arch.c_str(), batch, precision.c_str(), rate, ratio("fp32").c_str(),
                ratio("bf16-autocast").c_str(), g, 100 * share, cosine);
    std::fflush(stdout);
  };
  // Eager rows, for reference in the same table.
  for (const auto& [key, rate] : eager_rate) std::fprintf(stderr, "eager %s: %.2f/s\n", key.c_str(), rate);

  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  for (const auto& arch : archs) {
    std::map<Precision, ClipModel> models;
    for (Precision p : {Precision::fp32, Precision::bf16}) {
      ClipLoadOptions options;
      options.runtime.precision = p;
      options.runtime.threads = threads;
      models.emplace(p, ClipModel::random(arch, options, 0));
    }
    const int size = models.at(Precision::fp32).info().image_size;
    for (int batch : {1, 32}) {
      std::vector<float> pixels(static_cast<std::size_t>(batch) * 3 * size * size);
      for (auto& v : pixels) v = normal(rng);
      const Matrix reference = models.at(Precision::fp32).encode_pixels(pixels, batch);
      for (Precision p : {Precision::fp32, Precision::bf16}) {
        const ClipModel& model = models.at(p);
        Matrix out;
        const double s = median_seconds([&] { out = model.encode_pixels(pixels, batch); }, repeats);
        row("image", arch, batch, to_string(p), batch / s, min_row_cosine(out, reference));
      }
    }
  }
  // Text tower of ViT-B/32 (shared by every 512-d model): 32 prompts.
  {
    std::vector<std::string> prompts;
    for (int i = 0; i < 32; ++i) prompts.push_back("This is the image of a person named person " + std::to_string(i));
    std::map<Precision, ClipModel> models;
    for (Precision p : {Precision::fp32, Precision::bf16}) {
      ClipLoadOptions options;
      options.runtime.precision = p;
      options.runtime.threads = threads;
      models.emplace(p, ClipModel::random("ViT-B-32", options, 0));
    }
    const Matrix reference = models.at(Precision::fp32).encode_texts(prompts);
    for (Precision p : {Precision::fp32, Precision::bf16}) {
      Matrix out;
      const double s = median_seconds([&] { out = models.at(p).encode_texts(prompts); }, repeats);
      row("text", "ViT-B-32", 32, to_string(p), 32 / s, min_row_cosine(out, reference));
    }
  }
  if (eager.contains("results")) {
    std::printf("\neager PyTorch %s (same run, same threads):\n", eager["torch"].get<std::string>().c_str());
    for (const auto& r : eager["results"]) {
      std::printf("  %s %s batch %d %s: %.2f/s\n", r["tower"].get<std::string>().c_str(),
                  r["arch"].get<std::string>().c_str(), r["batch"].get<int>(),
                  r["precision"].get<std::string>().c_str(), r["per_second"].get<double>());
    }
  }
  return 0;
}
