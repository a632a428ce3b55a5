// The gallery's unlabelled faces through the clustering, with stable cluster numbers and name
// proposals, stored in one transaction.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "clipface/cluster.hpp"
#include "clipface/progress.hpp"

namespace clipface {
namespace {

// After a full run: each new cluster takes the number of the old cluster it shares most faces
// with (each old number used once), the others get placeholders -1, -2, ...
std::vector<std::int64_t> keep_numbers(const Clustering& c,
                                       const std::vector<std::int64_t>& old_ids) {
  std::map<std::pair<int, std::int64_t>, int> overlap;
  for (std::size_t i = 0; i < c.label.size(); ++i) {
    if (c.label[i] >= 0 && old_ids[i] > 0) ++overlap[{c.label[i], old_ids[i]}];
  }
  std::vector<std::tuple<int, int, std::int64_t>> pairs;  // (-overlap, new, old)
  for (const auto& [key, count] : overlap) pairs.emplace_back(-count, key.first, key.second);
  std::sort(pairs.begin(), pairs.end());
  std::vector<std::int64_t> id(static_cast<std::size_t>(c.clusters), 0);
  std::set<std::int64_t> used;
  for (const auto& [count, fresh, old] : pairs) {
    if (id[fresh] != 0 || used.count(old)) continue;
    id[fresh] = old;
    used.insert(old);
  }
  std::int64_t placeholder = 0;
  for (auto& v : id) {
    if (v == 0) v = --placeholder;
  }
  return id;
}

std::vector<ClusterProposal> propose(const Gallery& gallery, const Matrix& v,
                                     const std::vector<std::int64_t>& face_ids,
                                     const std::vector<std::int64_t>& cluster_of, float share) {
  std::vector<ClusterProposal> out;
  if (gallery.labelled_size() == 0) return out;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < cluster_of.size(); ++i) {
    if (cluster_of[i] != 0) rows.push_back(i);
  }
  if (rows.empty()) return out;
  Matrix queries(rows.size(), v.cols);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto src = v.row(rows[r]);
    std::copy(src.begin(), src.end(), queries.row(r).begin());
  }
  const KnnVote rule = gallery.vote_rule();
  const auto neighbours = gallery.search(queries, rule.k2);
  std::map<std::int64_t, std::set<std::string>> negative;
  for (const Negative& n : gallery.negatives()) negative[n.face_id].insert(n.person);

  struct Tally {
    int faces = 0;
    std::map<std::string, std::pair<int, double>> votes;  // person -> (faces, score sum)
    std::set<std::string> excluded;
  };
  std::map<std::int64_t, Tally> tally;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    Tally& t = tally[cluster_of[rows[r]]];
    ++t.faces;
    const auto it = negative.find(face_ids[rows[r]]);
    if (it != negative.end()) t.excluded.insert(it->second.begin(), it->second.end());
    const Decision d = decide(rule, neighbours[r]);
    if (!d.known()) continue;
    auto& [count, score] = t.votes[d.label];
    ++count;
    score += d.score;
  }
  for (const auto& [cluster, t] : tally) {
    const std::pair<const std::string, std::pair<int, double>>* best = nullptr;
    for (const auto& entry : t.votes) {
      if (t.excluded.count(entry.first)) continue;
      if (!best || entry.second.first > best->second.first) best = &entry;
    }
    if (!best || best->second.first < share * static_cast<float>(t.faces)) continue;
    out.push_back(
        {cluster, best->first, static_cast<float>(best->second.second / best->second.first)});
  }
  return out;
}

}  // namespace

ClusterReport cluster_gallery(Gallery& gallery, const ClusterRunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ClusterOptions o = options.clustering;
  const float same_person = cluster_radius_for(gallery.vote_rule());
  if (o.radius <= 0) o.radius = same_person;
  if (o.link_radius <= 0) o.link_radius = same_person;
  ProgressBar bar("clustering", 3, options.progress);
  const FaceVectors all = gallery.face_vectors(FaceSet::unlabelled);

  // Known strangers are not candidates for anybody.
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < all.faces.size(); ++i) {
    if (!all.faces[i].stranger) rows.push_back(i);
  }
  Matrix v(rows.size(), all.vectors.cols);
  std::vector<std::int64_t> face_ids, old_id;
  std::vector<char> old_core;
  std::map<std::int64_t, int> dense;  // stored cluster id -> 0..k-1
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& f = all.faces[rows[r]];
    const auto src = all.vectors.row(rows[r]);
    std::copy(src.begin(), src.end(), v.row(r).begin());
    face_ids.push_back(f.face_id);
    old_id.push_back(f.cluster);
    old_core.push_back(f.core ? 1 : 0);
    if (f.cluster > 0) dense.emplace(f.cluster, 0);
  }
  std::vector<std::int64_t> stored_id;  // dense -> stored id
  for (auto& [id, d] : dense) {
    d = static_cast<int>(stored_id.size());
    stored_id.push_back(id);
  }
  bar.advance(1, "neighbourhoods");

  ClusterReport report;
  report.unlabelled = rows.size();
  report.radius = o.radius;
  report.link_radius = o.link_radius;
  report.min_faces = o.min_faces;
  const bool full = options.full || dense.empty();
  Clustering c;
  std::vector<std::int64_t> id_of;  // label -> stored id or placeholder
  if (full) {
    c = density_cluster(v, o);
    id_of = keep_numbers(c, old_id);
    report.examined = rows.size();
  } else {
    std::vector<int> existing(rows.size(), -1);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (old_id[r] > 0) existing[r] = dense.at(old_id[r]);
    }
    c = extend_clustering(v, existing, old_core, o);
    id_of = stored_id;
    for (int k = static_cast<int>(stored_id.size()); k < c.clusters; ++k) {
      id_of.push_back(-(k - static_cast<std::int64_t>(stored_id.size()) + 1));
    }
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (existing[r] >= 0) continue;
      ++report.examined;
      if (c.label[r] >= 0 && c.label[r] < static_cast<int>(stored_id.size())) ++report.joined;
    }
  }
  bar.advance(1, "proposals");

  std::vector<std::int64_t> cluster_of(rows.size(), 0);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (c.label[r] >= 0) cluster_of[r] = id_of[c.label[r]];
  }
  ClusteringUpdate update;
  update.labels_generation = all.labels_generation;
  update.replace_all = full;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (cluster_of[r] == 0) continue;
    const bool changed = cluster_of[r] != old_id[r] || c.core[r] != old_core[r];
    if (full || changed) update.members.push_back({face_ids[r], cluster_of[r], c.core[r] != 0});
  }
  update.proposals = propose(gallery, v, face_ids, cluster_of, options.proposal_share);
  gallery.apply_clustering(update);
  bar.finish();

  std::set<std::int64_t> clusters, fresh;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (cluster_of[r] == 0) {
      ++report.noise;
    } else {
      clusters.insert(cluster_of[r]);
      if (cluster_of[r] < 0) fresh.insert(cluster_of[r]);
    }
  }
  report.clusters = clusters.size();
  report.new_clusters = fresh.size();
  report.proposals = update.proposals.size();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace clipface
