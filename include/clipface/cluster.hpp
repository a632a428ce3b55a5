// People from unlabelled faces: density-based clustering with core faces, the way Immich groups
// faces (a face is a core face when at least `min_faces` faces, itself included, lie within
// `radius` cosine distance; faces near no core face are noise and stay unassigned), with one
// change against chaining: two groups of core faces are joined only when their faces are close
// on average (average linkage, `link_radius`), not merely through one close pair. Incremental:
// new faces join the clusters that exist (near one of their core faces, close to them on
// average), the rest are clustered among themselves; a full run re-clusters every unlabelled
// face and keeps the numbers of the clusters it finds again. Labelled faces are never moved.
//
// Plain DBSCAN (the same core faces, joined through any close pair) is here too, as the peer the
// evaluation compares against (`clipface eval cluster`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/gallery.hpp"
#include "clipface/matrix.hpp"

namespace clipface {

struct ClusterOptions {
  // Cosine distance (1 - cosine) of a face's neighbourhood. 0 = from the embedding space: the
  // gallery's vote threshold (calibrated or default) as a cosine distance, so that "the same
  // person" means what identify means by it. Immich uses 0.5 for its ArcFace model.
  float radius = 0;
  int min_faces = 3;  // neighbourhood size (itself included) that makes a core face
  // Mean cosine distance over all pairs of two groups (and of a face and the group it joins) at
  // or below which they may be joined: what "the same person, on average" means in this space.
  // 0 = radius here; the gallery and the evaluation resolve it, like the radius, from the vote
  // threshold and keep it when only the radius is changed, so the radius decides who may be
  // neighbours and this decides who joins (on the LFW development photos that makes the result
  // nearly independent of the radius above it; docs/results.md).
  float link_radius = 0;
};

// radius in cosine distance for an L2 vote threshold on unit vectors (d^2 / 2).
float cluster_radius_for(const KnnVote& rule);

// One label per row: -1 noise, else 0..clusters-1.
struct Clustering {
  std::vector<int> label;
  std::vector<char> core;
  int clusters = 0;
  std::size_t noise() const;
};

// Rows are unit vectors. InputError for radius outside (0, 2], min_faces < 1.
Clustering density_cluster(const Matrix& vectors, const ClusterOptions& options);
// Keeps `existing` (label per row, -1 = not in a cluster yet; clusters 0..k-1, with their core
// flags) and assigns the rest: each joins the cluster it is closest to on average among those
// of its core neighbours (within link_radius), the others are clustered among themselves into
// new clusters numbered from k. Only faces near the new ones have their core flag recomputed.
Clustering extend_clustering(const Matrix& vectors, const std::vector<int>& existing,
                             const std::vector<char>& existing_core, const ClusterOptions& options);
// Plain DBSCAN (Ester et al. 1996) with the same core-face rule: clusters are the connected
// groups of core faces, every other face goes to the cluster of its nearest core neighbour.
Clustering dbscan(const Matrix& vectors, float radius, int min_faces);

// ---- the gallery's unlabelled faces ----------------------------------------------------------

struct ClusterRunOptions {
  ClusterOptions clustering;
  bool full = false;  // re-cluster every unlabelled face (else: only those in no cluster)
  // A cluster is proposed as person P when at least this share of its faces are named P by
  // the gallery's vote rule (and none is a negative example of P).
  float proposal_share = 0.5f;
  bool progress = true;
};

struct ClusterReport {
  std::size_t unlabelled = 0;  // unlabelled faces (known strangers excluded)
  std::size_t examined = 0;    // faces this run assigned or left as noise
  std::size_t joined = 0;      // faces that joined a cluster that existed before
  std::size_t new_clusters = 0;
  std::size_t clusters = 0;  // clusters after the run
  std::size_t noise = 0;     // unlabelled faces in no cluster after the run
  std::size_t proposals = 0;
  float radius = 0, link_radius = 0;
  int min_faces = 0;
  double seconds = 0;
};

// Clusters the gallery's unlabelled faces and proposes names; stores the result in one
// transaction (Gallery::apply_clustering). GalleryError when the gallery changed meanwhile.
ClusterReport cluster_gallery(Gallery& gallery, const ClusterRunOptions& options);

}  // namespace clipface
