#include "clipface/eval/clustering.hpp"

#include <dlib/clustering.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "clipface/embedder.hpp"

namespace clipface::eval {
namespace {

double f1(double p, double r) {
  return p + r > 0 ? 2 * p * r / (p + r) : 0;
}

double pairs(double n) {
  return n * (n - 1) / 2;
}

// The L2 distance on unit vectors that dlib's 0.6 on raw descriptors corresponds to
// (embedder.hpp: kDlibSameCosine), as a cosine distance.
constexpr float kDlibExampleRadius = 1.0f - kDlibSameCosine;

template <class F>
ClusterScores timed(const std::string& method, float radius, const std::vector<int>& truth,
                    int min_faces, F run) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int> label = run();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ClusterScores s = score_clustering(truth, label, min_faces);
  s.method = method;
  s.radius = radius;
  s.seconds = seconds;
  return s;
}

// The peer's scores at `noise_share`, linearly between the two sweep points around it.
ClusterScores at_noise_share(const std::vector<ClusterScores>& sweep, const std::string& method,
                             double noise_share) {
  std::vector<const ClusterScores*> points;
  for (const auto& s : sweep) {
    if (s.method == method) points.push_back(&s);
  }
  std::sort(points.begin(), points.end(),
            [](auto* a, auto* b) { return a->noise_share < b->noise_share; });
  ClusterScores out;
  out.method = method;
  if (points.empty()) return out;
  const ClusterScores* lo = points.front();
  const ClusterScores* hi = points.back();
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    if (points[i]->noise_share <= noise_share && points[i + 1]->noise_share >= noise_share) {
      lo = points[i], hi = points[i + 1];
      break;
    }
  }
  out = *lo;
  const double span = hi->noise_share - lo->noise_share;
  const double t =
      span > 1e-12 ? std::clamp((noise_share - lo->noise_share) / span, 0.0, 1.0) : 0.0;
  const auto mix = [&](double a, double b) { return a + t * (b - a); };
  out.radius = static_cast<float>(mix(lo->radius, hi->radius));
  out.noise_share = mix(lo->noise_share, hi->noise_share);
  out.pair_precision = mix(lo->pair_precision, hi->pair_precision);
  out.pair_recall = mix(lo->pair_recall, hi->pair_recall);
  out.pair_f1 = mix(lo->pair_f1, hi->pair_f1);
  out.bcubed_precision = mix(lo->bcubed_precision, hi->bcubed_precision);
  out.bcubed_recall = mix(lo->bcubed_recall, hi->bcubed_recall);
  out.bcubed_f1 = mix(lo->bcubed_f1, hi->bcubed_f1);
  out.clusters =
      static_cast<std::size_t>(std::lround(mix(double(lo->clusters), double(hi->clusters))));
  out.noise = static_cast<std::size_t>(std::lround(out.noise_share * double(out.faces)));
  return out;
}

}  // namespace

ClusterScores score_clustering(const std::vector<int>& truth, const std::vector<int>& label,
                               int min_faces) {
  ClusterScores s;
  s.faces = truth.size();
  if (truth.empty()) return s;
  // Noise faces are clusters of their own.
  std::vector<long long> cluster(label.size());
  long long next = 1LL << 40;
  for (std::size_t i = 0; i < label.size(); ++i) {
    cluster[i] = label[i] >= 0 ? label[i] : next++;
    if (label[i] < 0) ++s.noise;
  }
  std::map<long long, double> cluster_size;
  std::map<int, double> person_size;
  std::map<std::pair<long long, int>, double> cell;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    ++cluster_size[cluster[i]];
    ++person_size[truth[i]];
    ++cell[{cluster[i], truth[i]}];
  }
  s.people = person_size.size();
  for (const auto& [person, n] : person_size) {
    if (n >= min_faces) ++s.people_clusterable;
  }
  for (const auto& [c, n] : cluster_size) s.clusters += c < (1LL << 40) ? 1 : 0;
  double together = 0, same = 0, both = 0;
  for (const auto& [c, n] : cluster_size) together += pairs(n);
  for (const auto& [p, n] : person_size) same += pairs(n);
  for (const auto& [key, n] : cell) both += pairs(n);
  s.pair_precision = together > 0 ? both / together : 1;
  s.pair_recall = same > 0 ? both / same : 1;
  s.pair_f1 = f1(s.pair_precision, s.pair_recall);
  double precision = 0, recall = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const double common = cell[{cluster[i], truth[i]}];
    precision += common / cluster_size[cluster[i]];
    recall += common / person_size[truth[i]];
  }
  s.bcubed_precision = precision / double(truth.size());
  s.bcubed_recall = recall / double(truth.size());
  s.bcubed_f1 = f1(s.bcubed_precision, s.bcubed_recall);
  s.noise_share = double(s.noise) / double(s.faces);
  return s;
}

std::vector<int> chinese_whispers(const Matrix& vectors, float radius) {
  const std::size_t n = vectors.rows;
  std::vector<dlib::sample_pair> edges;
  const float min_cosine = 1.0f - radius;
  for (std::size_t i = 0; i < n; ++i) {
    edges.emplace_back(i, i);
    for (std::size_t j = i + 1; j < n; ++j) {
      if (dot(vectors.row(i), vectors.row(j)) >= min_cosine) edges.emplace_back(i, j);
    }
  }
  std::vector<unsigned long> labels;
  dlib::chinese_whispers(edges, labels);
  return std::vector<int>(labels.begin(), labels.end());
}

std::vector<int> small_clusters_as_noise(std::vector<int> label, int min_faces) {
  std::map<int, int> size;
  for (int l : label) {
    if (l >= 0) ++size[l];
  }
  std::map<int, int> number;
  for (int& l : label) {
    if (l < 0) continue;
    if (size[l] < min_faces) {
      l = -1;
    } else {
      l = number.try_emplace(l, static_cast<int>(number.size())).first->second;
    }
  }
  return label;
}

ClusterComparison compare_clusterings(const Matrix& vectors, const std::vector<int>& truth,
                                      const ClusterOptions& options, bool dlib_space) {
  ClusterComparison out;
  out.ours = options;
  const int m = options.min_faces;
  const float radius = options.radius;
  const float cw_radius = dlib_space ? kDlibExampleRadius : radius;
  const std::string rule = " (min " + std::to_string(m) + ")";
  const std::string pairs_rule = " (min 2)";
  const auto ours = [&](float r, int min_faces) {
    ClusterOptions o = options;
    o.radius = r;
    o.min_faces = min_faces;
    return [&vectors, o] { return density_cluster(vectors, o).label; };
  };
  const auto plain = [&](float r, int min_faces) {
    return [&vectors, r, min_faces] { return dbscan(vectors, r, min_faces).label; };
  };
  // One Chinese Whispers run per radius, read two ways: clusters smaller than min_faces as
  // noise (the density methods' rule), and singletons as noise (its own output: a cluster of
  // one is nobody's candidate).
  const auto whispers = [&](const std::string& name, float r, std::vector<ClusterScores>& into) {
    std::vector<int> label;
    ClusterScores raw = timed(name + pairs_rule, r, truth, m, [&] {
      label = chinese_whispers(vectors, r);
      return small_clusters_as_noise(label, 2);
    });
    ClusterScores ruled = score_clustering(truth, small_clusters_as_noise(label, m), m);
    ruled.method = name + rule;
    ruled.radius = r;
    ruled.seconds = raw.seconds;
    into.push_back(ruled);
    into.push_back(raw);
  };
  out.runs.push_back(timed("clipface" + rule, radius, truth, m, ours(radius, m)));
  out.runs.push_back(timed("DBSCAN, Immich's 0.5" + rule, 0.5f, truth, m, plain(0.5f, m)));
  out.runs.push_back(timed("DBSCAN" + rule, radius, truth, m, plain(radius, m)));
  whispers("Chinese Whispers", cw_radius, out.runs);
  if (m != 2) {
    out.runs.push_back(timed("clipface" + pairs_rule, radius, truth, m, ours(radius, 2)));
    out.runs.push_back(timed("DBSCAN" + pairs_rule, radius, truth, m, plain(radius, 2)));
  }
  for (float f : {0.6f, 0.7f, 0.75f, 0.8f, 0.85f, 0.9f, 0.95f, 1.0f, 1.05f, 1.1f, 1.2f, 1.4f}) {
    const float r = std::min(2.0f, radius * f);
    out.sweep.push_back(timed("clipface" + rule, r, truth, m, ours(r, m)));
    out.sweep.push_back(timed("DBSCAN" + rule, r, truth, m, plain(r, m)));
    if (m != 2) {
      out.sweep.push_back(timed("clipface" + pairs_rule, r, truth, m, ours(r, 2)));
      out.sweep.push_back(timed("DBSCAN" + pairs_rule, r, truth, m, plain(r, 2)));
    }
    whispers("Chinese Whispers", r, out.sweep);
  }
  // Each peer where it leaves as many faces unassigned as clipface does under the same rule.
  const auto share_of = [&](const std::string& method) {
    for (const auto& s : out.runs) {
      if (s.method == method) return s.noise_share;
    }
    return 0.0;
  };
  std::vector<std::string> rules{rule};
  if (m != 2) rules.push_back(pairs_rule);
  for (const std::string& r : rules) {
    const double share = share_of("clipface" + r);
    for (const char* peer : {"DBSCAN", "Chinese Whispers"}) {
      out.matched.push_back(at_noise_share(out.sweep, peer + r, share));
    }
  }
  return out;
}

}  // namespace clipface::eval
