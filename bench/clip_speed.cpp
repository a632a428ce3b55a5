// CLIP engine throughput on this CPU, against eager PyTorch measured in the same run.
//
//   build/bench/clip_speed [--arch ViT-B-32 RN50] [--repeats 5] [--threads 0] [--no-baseline]
//                          [--no-avx2]
//
// For each architecture (random weights: the same FLOPs as real ones) and batch size 1 and 32,
// images/s in fp32 and bf16, the ratio to eager PyTorch fp32 and bf16 autocast (run by
// bench/clip_eager_baseline.py with /usr/bin/python3, same thread count, just before), the
// GFLOP/s achieved as a share of the machine's peak (measured here by an FMA loop), and the
// cosine between bf16 and fp32 embeddings (random weights: real checkpoints have larger
// activation outliers, so treat it as a check of the arithmetic). Medians.
//
// Then the same rows with oneDNN held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, in a child process of
// this run, since oneDNN reads the limit once): the path of a CPU without AVX-512, where a bf16
// request runs as fp32. Its share of peak is against a 256-bit FMA loop.
#include <immintrin.h>

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

#include <unistd.h>

#include "clipface/allocator.hpp"
#include "clipface/clip.hpp"
#include "clipface/cpu.hpp"
#include "clipface/tokenizer.hpp"

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

// The machine's peak, measured rather than looked up (clock and FMA width vary by part): every
// thread runs a loop of independent 512-bit FMAs (fp32) or bf16 dot products (VDPBF16PS, two
// multiply-adds per fp32 lane) on registers only.
// Twelve independent accumulators (enough to hide the FMA latency on two pipes), named one by one
// so that they live in registers; the empty asm keeps the compiler from shortening the loop.
#define CLIPFACE_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CLIPFACE_DECLARE(i) __m512 acc##i = _mm512_set1_ps(static_cast<float>(i));
#define CLIPFACE_FMA(i) acc##i = _mm512_fmadd_ps(acc##i, a, b);
#define CLIPFACE_DOT(i) acc##i = _mm512_dpbf16_ps(acc##i, x, y);
#define CLIPFACE_SUM(i) sum += _mm512_cvtss_f32(acc##i);
constexpr double kChains = 12;

__attribute__((target("avx512f"))) double fma_loop(long iterations) {
  CLIPFACE_CHAINS(CLIPFACE_DECLARE)
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (long it = 0; it < iterations; ++it) {
    CLIPFACE_CHAINS(CLIPFACE_FMA)
    asm volatile(""
                 : "+v"(acc0), "+v"(acc1), "+v"(acc2), "+v"(acc3), "+v"(acc4), "+v"(acc5),
                   "+v"(acc6), "+v"(acc7), "+v"(acc8), "+v"(acc9), "+v"(acc10), "+v"(acc11));
  }
  float sum = 0;
  CLIPFACE_CHAINS(CLIPFACE_SUM)
  return 2.0 * 16 * kChains * static_cast<double>(iterations) + (sum == 42.0f ? 1e-30 : 0.0);
}

__attribute__((target("avx512f,avx512bf16"))) double bf16_loop(long iterations) {
  CLIPFACE_CHAINS(CLIPFACE_DECLARE)
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a83);
  for (long it = 0; it < iterations; ++it) {
    CLIPFACE_CHAINS(CLIPFACE_DOT)
    asm volatile(""
                 : "+v"(acc0), "+v"(acc1), "+v"(acc2), "+v"(acc3), "+v"(acc4), "+v"(acc5),
                   "+v"(acc6), "+v"(acc7), "+v"(acc8), "+v"(acc9), "+v"(acc10), "+v"(acc11));
  }
  float sum = 0;
  CLIPFACE_CHAINS(CLIPFACE_SUM)
  return 2.0 * 32 * kChains * static_cast<double>(iterations) + (sum == 42.0f ? 1e-30 : 0.0);
}

#define CLIPFACE_DECLARE256(i) __m256 acc##i = _mm256_set1_ps(static_cast<float>(i));
#define CLIPFACE_FMA256(i) acc##i = _mm256_fmadd_ps(acc##i, a, b);
#define CLIPFACE_SUM256(i) sum += _mm256_cvtss_f32(acc##i);

__attribute__((target("avx2,fma"))) double fma256_loop(long iterations) {
  CLIPFACE_CHAINS(CLIPFACE_DECLARE256)
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
  for (long it = 0; it < iterations; ++it) {
    CLIPFACE_CHAINS(CLIPFACE_FMA256)
    asm volatile(""
                 : "+x"(acc0), "+x"(acc1), "+x"(acc2), "+x"(acc3), "+x"(acc4), "+x"(acc5),
                   "+x"(acc6), "+x"(acc7), "+x"(acc8), "+x"(acc9), "+x"(acc10), "+x"(acc11));
  }
  float sum = 0;
  CLIPFACE_CHAINS(CLIPFACE_SUM256)
  return 2.0 * 8 * kChains * static_cast<double>(iterations) + (sum == 42.0f ? 1e-30 : 0.0);
}

enum class Peak { avx512_fp32, avx512_bf16, avx2_fp32 };

// 0 when the CPU lacks the instructions (the share-of-peak column then says n/a).
double peak_gflops(int threads, Peak kind) {
  const CpuInfo& cpu = cpu_info();
  if ((kind == Peak::avx2_fp32 && !(cpu.avx2 && cpu.fma)) ||
      (kind != Peak::avx2_fp32 && !cpu.avx512f) ||
      (kind == Peak::avx512_bf16 && !cpu.avx512_bf16)) {
    return 0;
  }
  const long iterations = 20'000'000;
  std::vector<double> flops(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      flops[static_cast<std::size_t>(t)] = kind == Peak::avx512_bf16 ? bf16_loop(iterations)
                                           : kind == Peak::avx2_fp32 ? fma256_loop(iterations)
                                                                     : fma_loop(iterations);
    });
  }
  for (auto& th : pool) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  double total = 0;
  for (double f : flops) total += f;
  return total / seconds / 1e9;
}

// Multiply-adds x 2 of the products (convolutions, linear layers, attention) of one forward, from
// the architecture: what any implementation must compute.
double vit_gflops(const ClipInfo& info) {
  const double w = info.vision_width, p = info.vision_patch_size;
  const double grid = info.image_size / p, tokens = grid * grid + 1;
  const double per_layer = 2 * tokens * w * (3 * w + w + 8 * w) + 2 * 2 * tokens * tokens * w;
  return (2 * grid * grid * 3 * p * p * w + info.vision_layers[0] * per_layer +
          2 * w * info.embed_dim) /
         1e9;
}

double resnet_gflops(const ClipInfo& info) {
  const double w = info.vision_width;
  double r = info.image_size / 2.0;  // after the stride-2 first convolution
  double flops = 2 * r * r * 9 * (3 * w / 2 + w / 2 * w / 2 + w / 2 * w);
  r /= 2;
  double inplanes = w;
  for (int stage = 0; stage < 4; ++stage) {
    const double planes = w * (1 << stage);
    for (int b = 0; b < info.vision_layers[static_cast<std::size_t>(stage)]; ++b) {
      const double stride = (b == 0 && stage > 0) ? 2 : 1, out_r = r / stride;
      flops += 2 * r * r * inplanes * planes + 2 * r * r * 9 * planes * planes +
               2 * out_r * out_r * planes * 4 * planes;
      if (b == 0) flops += 2 * out_r * out_r * inplanes * 4 * planes;  // downsample
      inplanes = 4 * planes;
      r = out_r;
    }
  }
  const double c = 32 * w, tokens = r * r + 1;
  flops += 2 * 2 * tokens * c * c + 2 * c * c + 2 * 2 * tokens * c + 2 * c * info.embed_dim;
  return flops / 1e9;
}

double text_gflops(const ClipInfo& info, double tokens) {
  const double w = info.text_width;
  const double per_layer = 2 * tokens * w * 12 * w + 2 * 2 * tokens * tokens * w;
  return (info.text_layers * per_layer + 2 * w * info.embed_dim) / 1e9;
}

double min_row_cosine(const Matrix& a, const Matrix& b) {
  double worst = 1.0;
  for (std::size_t i = 0; i < a.rows; ++i) worst = std::min<double>(worst, dot(a.row(i), b.row(i)));
  return worst;
}

nlohmann::json run_baseline(const std::vector<std::string>& archs, int threads, int repeats) {
  // The baseline gets the allocator setting clipface's programs use (keep_freed_memory_for_reuse),
  // so that the comparison is between the engines.
  std::string cmd =
      "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 "
      "/usr/bin/python3 " CLIPFACE_SOURCE_DIR "/bench/clip_eager_baseline.py --threads " +
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

// The child run with oneDNN held to AVX2: this program again, its rows printed into the table.
void run_avx2_child(const char* self, const std::vector<std::string>& archs, int repeats,
                    int threads, const nlohmann::json& eager) {
  const std::string eager_file = "/tmp/clip_speed_eager_" + std::to_string(::getpid()) + ".json";
  std::ofstream(eager_file) << eager.dump();
  std::string cmd = std::string("ONEDNN_MAX_CPU_ISA=AVX2 ") + self + " --child-avx2 --eager " +
                    eager_file + " --repeats " + std::to_string(repeats) + " --threads " +
                    std::to_string(threads) + " --arch";
  for (const auto& a : archs) cmd += " " + a;
  std::FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, pipe)) std::fputs(buf, stdout);
    std::fflush(stdout);
    if (pclose(pipe) != 0) std::fprintf(stderr, "the AVX2 run failed: %s\n", cmd.c_str());
  }
  std::remove(eager_file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  clipface::keep_freed_memory_for_reuse();  // as the CLI does
  std::vector<std::string> archs;
  int repeats = 5;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  bool baseline = true, avx2 = true, child = false;
  std::string eager_file;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeats" && i + 1 < argc)
      repeats = std::stoi(argv[++i]);
    else if (arg == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (arg == "--no-baseline")
      baseline = false;
    else if (arg == "--no-avx2")
      avx2 = false;
    else if (arg == "--child-avx2")  // internal: the AVX2 rows, run under ONEDNN_MAX_CPU_ISA
      child = true;
    else if (arg == "--eager" && i + 1 < argc)  // internal: the parent's baseline figures
      eager_file = argv[++i];
    else if (arg == "--arch") {
      while (i + 1 < argc && argv[i + 1][0] != '-') archs.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: clip_speed [--arch ARCH...] [--repeats N] [--threads N] "
                   "[--no-baseline] [--no-avx2]\n");
      return 2;
    }
  }
  if (archs.empty()) archs = {"ViT-B-32", "RN50"};

  // Eager PyTorch first, so the two never compete for the cores.
  nlohmann::json eager;
  if (child && !eager_file.empty()) {
    std::ifstream in(eager_file);
    eager = nlohmann::json::parse(in, nullptr, false);
  } else if (baseline) {
    eager = run_baseline(archs, threads, repeats);
  }
  std::map<std::string, double> eager_rate;  // key: tower/arch/batch/precision
  if (eager.is_object() && eager.contains("results")) {
    for (const auto& r : eager["results"]) {
      const std::string key = r["tower"].get<std::string>() + "/" + r["arch"].get<std::string>() +
                              "/" + std::to_string(r["batch"].get<int>()) + "/" +
                              r["precision"].get<std::string>();
      eager_rate[key] = r["per_second"];
    }
  }
  // The AVX2 rows are measured against a 256-bit FMA loop; a bf16 request there runs fp32.
  const double peak = peak_gflops(threads, child ? Peak::avx2_fp32 : Peak::avx512_fp32);
  const double peak_bf16 = child ? peak : peak_gflops(threads, Peak::avx512_bf16);
  const std::string where = child ? " (oneDNN " + clip_cpu_support().isa + ")" : "";
  if (!child) {
    std::printf(
        "threads %d, measured peak fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s, repeats %d, "
        "medians\n\n",
        threads, peak, peak_bf16, repeats);
    std::printf(
        "| tower | model | batch | run | items/s | vs eager fp32 | vs eager bf16 autocast "
        "| GFLOP/s | share of peak | cosine to fp32 |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  }

  auto row = [&](const std::string& tower, const std::string& arch, int batch,
                 const std::string& run, double rate, double gflops_per_item, bool bf16,
                 const std::string& cosine) {
    const std::string base = tower + "/" + arch + "/" + std::to_string(batch) + "/";
    auto ratio = [&](const std::string& p) {
      const auto it = eager_rate.find(base + p);
      if (it == eager_rate.end()) return std::string("n/a");
      char b[32];
      std::snprintf(b, sizeof b, "%.2fx", rate / it->second);
      return std::string(b);
    };
    const double g = gflops_per_item * rate;
    const double top = bf16 ? peak_bf16 : peak;
    char share[16] = "n/a";
    if (top > 0) std::snprintf(share, sizeof share, "%.0f%%", 100 * g / top);
    std::printf("| %s | %s | %d | %s | %.1f | %s | %s | %.0f | %s | %s |\n", tower.c_str(),
                arch.c_str(), batch, run.c_str(), rate, ratio("fp32").c_str(),
                ratio("bf16-autocast").c_str(), g, share, cosine.c_str());
    std::fflush(stdout);
  };
  auto cosine_text = [](double c) {
    char b[32];
    std::snprintf(b, sizeof b, "%.5f", c);
    return std::string(b);
  };
  auto eager_rows = [&](const std::string& tower, const std::string& arch, int batch,
                        double gflops_per_item) {
    if (child) return;  // printed once, by the parent
    const std::string base = tower + "/" + arch + "/" + std::to_string(batch) + "/";
    for (const char* p : {"fp32", "bf16-autocast"}) {
      if (auto it = eager_rate.find(base + p); it != eager_rate.end()) {
        row(tower, arch, batch, std::string("eager PyTorch ") + p, it->second, gflops_per_item,
            std::string(p) != "fp32", "-");
      }
    }
  };
  // "clipface bf16", or on the AVX2 path "clipface bf16 -> fp32 (oneDNN avx2)": what was asked
  // and, when it differs, what ran.
  auto run_name = [&](Precision asked, const ClipModel& model) {
    std::string name = "clipface " + to_string(asked);
    if (model.runtime().precision != asked) name += " -> " + to_string(model.runtime().precision);
    return name + where;
  };
  auto load_both = [&](const std::string& arch) {
    std::map<Precision, ClipModel> models;
    for (Precision p : {Precision::fp32, Precision::bf16}) {
      ClipLoadOptions options;
      options.runtime.precision = p;
      options.runtime.threads = threads;
      models.emplace(p, ClipModel::random(arch, options, 0));
    }
    return models;
  };

  std::mt19937 rng(0);
  std::normal_distribution<float> normal;
  for (const auto& arch : archs) {
    const std::map<Precision, ClipModel> models = load_both(arch);
    const ClipInfo& info = models.at(Precision::fp32).info();
    const double gflops = info.vision == "vit" ? vit_gflops(info) : resnet_gflops(info);
    const int size = info.image_size;
    for (int batch : {1, 32}) {
      eager_rows("image", arch, batch, gflops);
      std::vector<float> pixels(static_cast<std::size_t>(batch) * 3 * size * size);
      for (auto& v : pixels) v = normal(rng);
      const Matrix reference = models.at(Precision::fp32).encode_pixels(pixels, batch);
      for (Precision p : {Precision::fp32, Precision::bf16}) {
        const ClipModel& model = models.at(p);
        Matrix out;
        const double s = median_seconds([&] { out = model.encode_pixels(pixels, batch); }, repeats);
        row("image", arch, batch, run_name(p, model), batch / s, gflops,
            model.runtime().precision == Precision::bf16,
            cosine_text(min_row_cosine(out, reference)));
      }
    }
  }
  // Text tower of ViT-B/32 (shared by every 512-d model): 32 prompts of 13 tokens, as the
  // baseline's. Eager PyTorch runs all 77 positions; clipface stops after the last end token,
  // so its GFLOP/s counts the 13 positions it needs.
  {
    std::vector<std::string> prompts;
    for (int i = 0; i < 32; ++i)
      prompts.push_back("This is the image of a person named number " + std::to_string(i));
    const std::map<Precision, ClipModel> models = load_both("ViT-B-32");
    const ClipInfo& info = models.at(Precision::fp32).info();
    const auto tokens = models.at(Precision::fp32).tokenizer().tokenize(prompts.back(), 77);
    const double length =
        static_cast<double>(std::find(tokens.begin(), tokens.end(), 49407) - tokens.begin() + 1);
    eager_rows("text", "ViT-B-32", 32, text_gflops(info, 77));
    const Matrix reference = models.at(Precision::fp32).encode_texts(prompts);
    for (Precision p : {Precision::fp32, Precision::bf16}) {
      const ClipModel& model = models.at(p);
      Matrix out;
      const double s = median_seconds([&] { out = model.encode_texts(prompts); }, repeats);
      row("text", "ViT-B-32", 32, run_name(p, model), 32 / s, text_gflops(info, length),
          model.runtime().precision == Precision::bf16,
          cosine_text(min_row_cosine(out, reference)));
    }
  }
  if (child) {
    std::printf(
        "\n(oneDNN %s rows: a bf16 request runs as fp32 there; peak %.0f GFLOP/s by a "
        "256-bit FMA loop)\n",
        clip_cpu_support().isa.c_str(), peak);
    return 0;
  }
  if (avx2 && clip_cpu_support().isa != "avx2")
    run_avx2_child(argv[0], archs, repeats, threads, eager);
  if (eager.is_object() && eager.contains("torch")) {
    std::printf("\nbaseline: eager PyTorch %s, %d threads, in the same run\n",
                eager["torch"].get<std::string>().c_str(), threads);
  }
  return 0;
}
