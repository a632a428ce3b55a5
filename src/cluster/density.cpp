// The clustering itself: core faces from neighbourhood sizes, core faces joined in order of
// closeness while the two groups stay close on average (average linkage over all their pairs,
// computed from sums of unit vectors: mean cosine = S_a . S_b / (n_a n_b)), then the other faces
// attached to the group of their nearest core face when close to it on average; groups smaller
// than min_faces are noise. And plain DBSCAN, the peer.
#include <algorithm>
#include <map>
#include <numeric>

#include "clipface/cluster.hpp"
#include "clipface/errors.hpp"
#include "cluster/neighbourhoods.hpp"

namespace clipface {
using cluster_detail::Neighbourhoods;
using cluster_detail::range_neighbours;

namespace {

void check(const ClusterOptions& o) {
  if (!(o.radius > 0 && o.radius <= 2)) {
    throw InputError("clustering radius must be a cosine distance in (0, 2], got " +
                     std::to_string(o.radius));
  }
  if (o.min_faces < 1) throw InputError("clustering needs min_faces >= 1");
  if (o.link_radius < 0 || o.link_radius > 2) {
    throw InputError("clustering link radius must be in [0, 2], got " +
                     std::to_string(o.link_radius));
  }
}

float link_cosine(const ClusterOptions& o) {
  return 1.0f - (o.link_radius > 0 ? o.link_radius : o.radius);
}

// Union-find over rows; each group keeps the sum of its core vectors and their number.
class Groups {
 public:
  explicit Groups(const Matrix& v) : v_(v), parent_(v.rows), size_(v.rows, 0), sum_(v.rows) {
    std::iota(parent_.begin(), parent_.end(), 0);
  }
  int find(int i) {
    while (parent_[i] != i) i = parent_[i] = parent_[parent_[i]];
    return i;
  }
  void add_core(int i) { size_[i] = 1; }
  int size(int root) const { return size_[root]; }
  // Mean cosine between the core vectors of two groups, or of a group and one vector.
  float mean_cosine(int a, int b) const {
    return static_cast<float>(dot(sum(a), sum(b)) / (static_cast<double>(size_[a]) * size_[b]));
  }
  float mean_cosine(int a, std::span<const float> x) const {
    return static_cast<float>(dot(sum(a), x) / static_cast<double>(size_[a]));
  }
  void unite(int a, int b) {
    if (size_[a] < size_[b]) std::swap(a, b);
    std::vector<float> merged(v_.cols);
    const auto sa = sum(a), sb = sum(b);
    for (std::size_t d = 0; d < v_.cols; ++d) merged[d] = sa[d] + sb[d];
    sum_[a] = std::move(merged);
    std::vector<float>().swap(sum_[b]);
    parent_[b] = a;
    size_[a] += size_[b];
  }

 private:
  // A single face's sum is its own vector (not copied).
  std::span<const float> sum(int root) const {
    return sum_[root].empty() ? v_.row(static_cast<std::size_t>(root))
                              : std::span<const float>(sum_[root]);
  }
  const Matrix& v_;
  std::vector<int> parent_;
  std::vector<int> size_;
  std::vector<std::vector<float>> sum_;
};

struct Edge {
  float cosine;
  int a, b;
};

// Clusters the `candidate` rows (their neighbourhoods known) among themselves; labels from
// `first`, written into `label` (which must hold -1 for them). Returns the clusters made.
int cluster_candidates(const Matrix& v, const Neighbourhoods& nb,
                       const std::vector<char>& candidate, const std::vector<char>& core,
                       const ClusterOptions& o, int first, std::vector<int>& label) {
  const int n = static_cast<int>(v.rows);
  const float link = link_cosine(o);
  Groups groups(v);
  std::vector<Edge> edges;
  for (int i = 0; i < n; ++i) {
    if (!candidate[i] || !core[i]) continue;
    groups.add_core(i);
    for (std::size_t k = nb.offset[i]; k < nb.offset[i + 1]; ++k) {
      const int j = nb.id[k];
      if (j > i && candidate[j] && core[j]) edges.push_back({nb.cosine[k], i, j});
    }
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
    return x.cosine != y.cosine ? x.cosine > y.cosine : std::tie(x.a, x.b) < std::tie(y.a, y.b);
  });
  for (const Edge& e : edges) {
    const int a = groups.find(e.a), b = groups.find(e.b);
    if (a != b && groups.mean_cosine(a, b) >= link) groups.unite(a, b);
  }
  // Groups of core faces, then the other candidates to the group of their nearest core
  // neighbour when close to it on average.
  std::vector<int> group_of(n, -1);
  for (int i = 0; i < n; ++i) {
    if (candidate[i] && core[i]) group_of[i] = groups.find(i);
  }
  for (int i = 0; i < n; ++i) {
    if (!candidate[i] || core[i]) continue;
    for (std::size_t k = nb.offset[i]; k < nb.offset[i + 1]; ++k) {
      const int j = nb.id[k];  // most similar first
      if (j == i || !candidate[j] || !core[j]) continue;
      const int root = groups.find(j);
      if (groups.mean_cosine(root, v.row(static_cast<std::size_t>(i))) >= link) group_of[i] = root;
      break;
    }
  }
  std::map<int, int> members;
  for (int i = 0; i < n; ++i) {
    if (group_of[i] >= 0) ++members[group_of[i]];
  }
  // Number the groups big enough in order of their first face.
  std::map<int, int> number;
  int made = 0;
  for (int i = 0; i < n; ++i) {
    const int g = group_of[i];
    if (g < 0 || members[g] < o.min_faces) continue;
    auto [it, fresh] = number.try_emplace(g, first + made);
    if (fresh) ++made;
    label[i] = it->second;
  }
  return made;
}

std::vector<char> cores_of(const Neighbourhoods& nb, int min_faces, std::vector<char> core) {
  for (std::size_t i = 0; i + 1 < nb.offset.size(); ++i) {
    if (nb.known[i]) core[i] = nb.count(i) >= static_cast<std::size_t>(min_faces) ? 1 : 0;
  }
  return core;
}

}  // namespace

float cluster_radius_for(const KnnVote& rule) {
  return std::clamp(0.5f * rule.threshold * rule.threshold, 1e-4f, 2.0f);
}

std::size_t Clustering::noise() const {
  return static_cast<std::size_t>(std::count(label.begin(), label.end(), -1));
}

Clustering density_cluster(const Matrix& vectors, const ClusterOptions& options) {
  check(options);
  Clustering out;
  const std::size_t n = vectors.rows;
  out.label.assign(n, -1);
  out.core.assign(n, 0);
  if (n == 0) return out;
  const Neighbourhoods nb = range_neighbours(vectors, 1.0f - options.radius);
  out.core = cores_of(nb, options.min_faces, out.core);
  out.clusters =
      cluster_candidates(vectors, nb, std::vector<char>(n, 1), out.core, options, 0, out.label);
  return out;
}

Clustering extend_clustering(const Matrix& vectors, const std::vector<int>& existing,
                             const std::vector<char>& existing_core,
                             const ClusterOptions& options) {
  check(options);
  const std::size_t n = vectors.rows;
  if (existing.size() != n || existing_core.size() != n) {
    throw InputError("extend_clustering: one existing label and core flag per row needed");
  }
  Clustering out;
  out.label = existing;
  out.core = existing_core;
  int clusters = 0;
  std::vector<std::size_t> open;
  for (std::size_t i = 0; i < n; ++i) {
    if (existing[i] >= 0) {
      clusters = std::max(clusters, existing[i] + 1);
    } else {
      open.push_back(i);
    }
  }
  out.clusters = clusters;
  if (open.empty()) return out;
  const float min_cosine = 1.0f - options.radius;
  // Neighbourhoods of the open faces, and of the clustered faces next to them (their core flag
  // may change); nothing else is searched.
  Neighbourhoods nb = range_neighbours(vectors, min_cosine, open);
  std::vector<std::size_t> asked = open;
  {
    std::vector<char> seen(n, 0);
    for (std::size_t i : open) {
      for (std::size_t k = nb.offset[i]; k < nb.offset[i + 1]; ++k) {
        const auto j = static_cast<std::size_t>(nb.id[k]);
        if (existing[j] >= 0 && !seen[j]) seen[j] = 1, asked.push_back(j);
      }
    }
  }
  if (asked.size() > open.size()) nb = range_neighbours(vectors, min_cosine, asked);
  out.core = cores_of(nb, options.min_faces, out.core);

  // Existing clusters as groups of their core faces (all their faces when none is core).
  const float link = link_cosine(options);
  const auto k = static_cast<std::size_t>(clusters);
  std::vector<std::vector<double>> sum(k, std::vector<double>(vectors.cols, 0.0));
  std::vector<int> cores(k, 0), weight(k, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (existing[i] >= 0 && out.core[i]) ++cores[existing[i]];
  }
  for (std::size_t i = 0; i < n; ++i) {
    const int c = existing[i];
    if (c < 0 || (cores[c] > 0 && !out.core[i])) continue;
    const auto row = vectors.row(i);
    for (std::size_t d = 0; d < vectors.cols; ++d) sum[c][d] += row[d];
    ++weight[c];
  }
  const auto mean_cosine = [&](int c, std::span<const float> x) {
    double s = 0;
    for (std::size_t d = 0; d < x.size(); ++d) s += sum[c][d] * x[d];
    return static_cast<float>(s / std::max(1, weight[c]));
  };
  std::vector<char> candidate(n, 0);
  for (std::size_t i : open) {
    int best = -1;
    float best_mean = link;
    for (std::size_t k = nb.offset[i]; k < nb.offset[i + 1]; ++k) {
      const auto j = static_cast<std::size_t>(nb.id[k]);
      const int c = existing[j];
      if (c < 0 || !out.core[j]) continue;
      const float m = mean_cosine(c, vectors.row(i));
      if (m >= best_mean) best = c, best_mean = m;
    }
    if (best >= 0) {
      out.label[i] = best;
    } else {
      candidate[i] = 1;
    }
  }
  out.clusters +=
      cluster_candidates(vectors, nb, candidate, out.core, options, clusters, out.label);
  return out;
}

Clustering dbscan(const Matrix& vectors, float radius, int min_faces) {
  ClusterOptions o;
  o.radius = radius;
  o.min_faces = min_faces;
  check(o);
  const std::size_t n = vectors.rows;
  Clustering out;
  out.label.assign(n, -1);
  out.core.assign(n, 0);
  if (n == 0) return out;
  const Neighbourhoods nb = range_neighbours(vectors, 1.0f - radius);
  out.core = cores_of(nb, min_faces, out.core);
  std::vector<int> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  const auto find = [&](int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (!out.core[i]) continue;
    for (std::size_t k = nb.offset[i]; k < nb.offset[i + 1]; ++k) {
      const int j = nb.id[k];
      if (out.core[j]) parent[find(static_cast<int>(i))] = find(j);
    }
  }
  std::map<int, int> number;
  const auto label_of = [&](int root) {
    auto [it, fresh] = number.try_emplace(root, out.clusters);
    if (fresh) ++out.clusters;
    return it->second;
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (out.core[i]) out.label[i] = label_of(find(static_cast<int>(i)));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (out.core[i]) continue;
    for (std::size_t k = nb.offset[i]; k < nb.offset[i + 1]; ++k) {
      const int j = nb.id[k];
      if (out.core[j]) {
        out.label[i] = out.label[j];  // the nearest core neighbour's cluster
        break;
      }
    }
  }
  return out;
}

}  // namespace clipface
