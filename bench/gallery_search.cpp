// Gallery search latency and recall on synthetic face-like embeddings: 512-d, people with about
// 10 photos each (same-person cosine about 0.75, strangers near 0). Single-query latency through
// Gallery::search (FAISS plus the SQLite name lookup), p50/p95, for exact search and approximate
// indexes, with recall@1 (same nearest entry as exact) and identity agreement (same k1/k2 vote as
// with exact neighbours).
//
//   gallery_search [--sizes 10000,100000] [--million] [--queries 500] [--threads 2] [--hnsw]
//                  [--dir /tmp/gallery-bench]
// --million adds 1M (about 2 GB of database, several minutes to build and train).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/gallery.hpp"

using namespace clipface;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kDim = 512;
constexpr int kPhotosPerPerson = 10;

void normalize(float* v) {
  double s = 0;
  for (int i = 0; i < kDim; ++i) s += double(v[i]) * v[i];
  const float inv = float(1 / std::sqrt(s));
  for (int i = 0; i < kDim; ++i) v[i] *= inv;
}

struct Data {
  std::vector<float> centres;  // people x dim
  int people = 0;
};

void random_unit(std::mt19937& rng, float* v) {
  std::normal_distribution<float> normal;
  for (int i = 0; i < kDim; ++i) v[i] = normal(rng);
  normalize(v);
}

// A photo of person p: cosine about 0.87 to the centre, so about 0.75 between photos.
void photo(const Data& d, int p, std::mt19937& rng, float* out) {
  random_unit(rng, out);
  const float* c = &d.centres[std::size_t(p) * kDim];
  for (int i = 0; i < kDim; ++i) out[i] = 0.866f * c[i] + 0.5f * out[i];
  normalize(out);
}

EmbedderInfo bench_model() {
  EmbedderInfo m;
  m.name = "synthetic-512";
  m.checksum = "bench";
  m.crop_style = "loose";
  m.dim = kDim;
  m.input_size = 224;
  return m;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(q * double(v.size())))];
}

struct Config {
  std::string factory;
  std::string params;
};

std::vector<Config> configs_for(long n, bool hnsw) {
  // Finer lists for larger galleries (FAISS wants >= 39 training points per list).
  const int nlist = n >= 1000000 ? 16384 : n >= 100000 ? 1024 : 256;
  const std::string ivf = "IVF" + std::to_string(nlist);
  std::vector<Config> c = {
      {ivf + ",Flat", "nprobe=8"},
      {ivf + ",Flat", "nprobe=32"},
      {ivf + ",SQ8,RFlat", "nprobe=8,k_factor_rf=4"},
      {ivf + ",SQ8,RFlat", "nprobe=16,k_factor_rf=4"},
      {ivf + ",SQ8,RFlat", "nprobe=32,k_factor_rf=4"},
  };
  if (hnsw || n <= 10000) {
    c.push_back({"HNSW32", "efSearch=64"});
    c.push_back({"HNSW32", "efSearch=128"});
  }
  return c;
}

std::vector<long> parse_sizes(const std::string& s) {
  std::vector<long> out;
  std::size_t start = 0;
  while (start < s.size()) {
    const auto comma = s.find(',', start);
    out.push_back(std::stol(s.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes = {10000, 100000};
  int queries = 500;
  int threads = 2;
  bool hnsw = false;
  fs::path root = fs::temp_directory_path() / "clipface-gallery-bench";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--sizes")
      sizes = parse_sizes(next());
    else if (a == "--million")
      sizes.push_back(1000000);
    else if (a == "--queries")
      queries = std::stoi(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--hnsw")
      hnsw = true;
    else if (a == "--dir")
      root = next();
    else {
      std::fprintf(stderr,
                   "usage: gallery_search [--sizes N,N] [--million] [--queries Q] "
                   "[--threads T] [--hnsw] [--dir DIR]\n");
      return 2;
    }
  }
  omp_set_num_threads(threads);
  const EmbedderInfo model = bench_model();
  const KnnVote vote{3, 5, 1.0f};
  std::printf(
      "| gallery | index | search params | build s | p50 ms | p95 ms | recall@1 | identity "
      "agreement |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const long n : sizes) {
    std::mt19937 rng(12345);
    Data data;
    data.people = int(n / kPhotosPerPerson);
    data.centres.resize(std::size_t(data.people) * kDim);
    for (int p = 0; p < data.people; ++p) random_unit(rng, &data.centres[std::size_t(p) * kDim]);

    const fs::path dir = root / ("g" + std::to_string(n));
    fs::remove_all(dir);
    auto t0 = Clock::now();
    Gallery g = Gallery::create(dir, model);
    {
      std::vector<Enrollment> chunk;
      for (long i = 0; i < n; ++i) {
        Enrollment e;
        const int p = int(i / kPhotosPerPerson);
        e.person = "p" + std::to_string(p);
        e.image_path = "img" + std::to_string(i);
        e.image_sha256 = "sha" + std::to_string(i);
        e.embedding.resize(kDim);
        photo(data, p, rng, e.embedding.data());
        chunk.push_back(std::move(e));
        if (chunk.size() == 10000 || i == n - 1) {
          g.enroll(model, chunk);
          chunk.clear();
        }
      }
      g.flush();
    }
    const double enroll_s = std::chrono::duration<double>(Clock::now() - t0).count();

    // Queries: new photos of enrolled people (as when identifying them in new images).
    Matrix q(queries, kDim);
    std::uniform_int_distribution<int> pick(0, data.people - 1);
    for (int i = 0; i < queries; ++i) photo(data, pick(rng), rng, &q.data[std::size_t(i) * kDim]);

    auto run = [&](const std::string& factory, const std::string& params, double build_s,
                   std::vector<std::vector<Neighbor>>* keep,
                   const std::vector<std::vector<Neighbor>>* exact) {
      std::vector<double> ms;
      std::vector<std::vector<Neighbor>> results;
      Matrix one(1, kDim);
      for (int i = 0; i < queries; ++i) {
        std::memcpy(one.data.data(), &q.data[std::size_t(i) * kDim], kDim * sizeof(float));
        const auto s = Clock::now();
        auto r = g.search(one, vote.k2);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        results.push_back(std::move(r[0]));
      }
      double recall = 1, agree = 1;
      if (exact) {
        int same = 0, same_id = 0;
        for (int i = 0; i < queries; ++i) {
          if (!results[i].empty() && results[i][0].face_id == (*exact)[i][0].face_id) ++same;
          if (decide(vote, results[i]).label == decide(vote, (*exact)[i]).label) ++same_id;
        }
        recall = double(same) / queries;
        agree = double(same_id) / queries;
      }
      std::printf("| %ld | %s | %s | %.1f | %.3f | %.3f | %.3f | %.3f |\n", n, factory.c_str(),
                  params.empty() ? "-" : params.c_str(), build_s, percentile(ms, 0.5),
                  percentile(ms, 0.95), recall, agree);
      std::fflush(stdout);
      if (keep) *keep = std::move(results);
    };
    std::vector<std::vector<Neighbor>> exact;
    run("Flat (exact)", "", enroll_s, &exact, nullptr);
    std::string built;
    for (const Config& c : configs_for(n, hnsw)) {
      double build_s = 0;
      if (c.factory != built) {
        t0 = Clock::now();
        g.reindex(GalleryOptions{c.factory, c.params});
        build_s = std::chrono::duration<double>(Clock::now() - t0).count();
        built = c.factory;
      } else {
        g.set_search_params(c.params);
      }
      run(g.index_description(), c.params, build_s, nullptr, &exact);
    }
    fs::remove_all(dir);
  }
  return 0;
}
