// Clustering measured against the truth of a labelled folder (`clipface eval cluster`): our
// density clustering (clipface/cluster.hpp), plain DBSCAN with Immich's defaults and with our
// radius, and dlib's Chinese Whispers as face_recognition's example runs it, all on the same
// embeddings in the same run, each also swept over its radius so they can be compared at the
// same share of faces left as noise.
//
// Scores (noise faces count as clusters of their own; Amigó et al. 2009 for BCubed):
//   pairwise precision = pairs put together that are one person / pairs put together
//   pairwise recall    = pairs put together that are one person / pairs that are one person
//   BCubed precision   = mean over faces of (faces in its cluster of its person / cluster size)
//   BCubed recall      = mean over faces of (faces in its cluster of its person / person size)
//   F1 = harmonic mean of the two; noise share = faces in no cluster / faces.
#pragma once

#include <string>
#include <vector>

#include "clipface/cluster.hpp"
#include "clipface/matrix.hpp"

namespace clipface::eval {

struct ClusterScores {
  std::string method;
  float radius = 0;  // cosine distance the method ran with
  std::size_t faces = 0, people = 0;
  std::size_t people_clusterable = 0;  // people with at least min_faces faces
  std::size_t clusters = 0, noise = 0;
  double noise_share = 0;
  double pair_precision = 0, pair_recall = 0, pair_f1 = 0;
  double bcubed_precision = 0, bcubed_recall = 0, bcubed_f1 = 0;
  double seconds = 0;
};

// truth: person id per face; label: cluster per face, -1 = noise.
ClusterScores score_clustering(const std::vector<int>& truth, const std::vector<int>& label,
                               int min_faces = 3);

// dlib::chinese_whispers over the graph of pairs within `radius` cosine distance (self edges
// included, as dlib's dnn_face_recognition_ex.cpp builds it); 100 iterations, dlib's seed.
// Every face gets a cluster (singletons count as clusters of one, i.e. as noise here).
std::vector<int> chinese_whispers(const Matrix& vectors, float radius);

// Clusters smaller than min_faces -> noise (-1), so that a method without noise can be read at
// the same rule as the density-based ones.
std::vector<int> small_clusters_as_noise(std::vector<int> label, int min_faces);

// Every method under two rules: clusters need min_faces faces (Immich's 3 by default; Chinese
// Whispers' smaller clusters count as noise), and pairs allowed (min 2; Chinese Whispers'
// singletons count as noise, which is its own output scored as it is).
struct ClusterComparison {
  std::vector<ClusterScores> runs;     // every method at its own radius
  std::vector<ClusterScores> sweep;    // every method over 0.6x to 1.4x clipface's radius
  std::vector<ClusterScores> matched;  // each peer at clipface's noise share, same rule
  ClusterOptions ours;                 // what clipface ran with
};

// Runs all methods; `options.radius` 0 = cluster_radius_for(default_vote(space)); dlib_space
// picks Chinese Whispers' threshold of dlib's example (0.6 on raw descriptors).
ClusterComparison compare_clusterings(const Matrix& vectors, const std::vector<int>& truth,
                                      const ClusterOptions& options, bool dlib_space);

}  // namespace clipface::eval
