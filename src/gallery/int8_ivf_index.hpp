// clipface's own approximate index for large galleries, selected with the factory string
// "CFIVF<nlist>" (about 60 faces per list: CFIVF16384 for a million): a fine inverted file whose
// lists hold int8 codes scanned with the VNNI kernels, an int8 coarse quantizer (Int8FlatIndex: a
// quarter of the bytes of fp32 centroids per query), and exact fp32 re-ranking of the best
// candidates, so the neighbours it returns carry exact scores.
//
// Why it is fast on face embeddings: with many small lists, formed in a whitened space
// (RoutingSpace), the photos of one person land in the same list and its centroid is close to
// them, so a query needs only a few lists. Training is FAISS's spherical k-means (Clustering) on
// all vectors, with int8 assignments (KMeansAssigner).
//
// Search parameters (the gallery's search_params string): nprobe=<lists scanned>,
// rerank=<candidates re-scored exactly>.
#pragma once

#include <faiss/Index.h>

#include <memory>
#include <string>
#include <vector>

#include "gallery/int8_codec.hpp"
#include "gallery/int8_flat_index.hpp"
#include "gallery/packed_rows.hpp"
#include "gallery/routing_space.hpp"

namespace clipface::gallery_detail {

struct Int8IvfIndex : faiss::Index {
  Int8IvfIndex(idx_t dim, idx_t nlist);

  // True for strings of this index's family (then from_factory decides whether it is valid).
  static bool is_factory(const std::string& factory);
  // InputError unless `factory` is CFIVF<nlist> with 1 <= nlist <= kMaxLists.
  static std::unique_ptr<Int8IvfIndex> from_factory(idx_t dim, const std::string& factory);
  static constexpr idx_t kMaxLists = 1 << 20;
  // Vectors per list needed to train (FAISS asks 39 per centroid; lists of about 30 are the
  // point of this index, and k-means groups a person's photos well from 16 per list).
  static constexpr idx_t kMinPointsPerList = 16;
  static constexpr idx_t kMaxRerank = 100000;

  // "nprobe=32,rerank=32" (either may be left out; "" keeps the current values). InputError for
  // an unknown key or a value out of range; the index is unchanged then.
  void set_search_params(const std::string& params);

  idx_t nlist;
  idx_t nprobe = 32;  // lists scanned per query (at most nlist)
  idx_t rerank = 32;  // candidates re-scored exactly per query (at least k is used)
  // Training: spherical k-means, in the routing space, on every vector (up to
  // train_points_per_list per list, FAISS's default cap). A subsample would leave the people it
  // did not see without a list of their own, their photos spread over several lists (recall 0.92
  // instead of 1.00 with a third of 100k). Twelve iterations, of which only every third assigns
  // each point against all centroids (see KMeansAssigner): 1.02 lists per person at 1M with 10
  // photos each, 1.06 with 6 to 14 at 250k (1.10 after six iterations).
  int train_iterations = 12;
  int train_points_per_list = 256;
  int train_full_every = 3;  // a full assignment pass every this many iterations

  RoutingSpace routing;           // where lists are formed and queries routed
  Int8FlatIndex quantizer;        // the list centroids (in the routing space)
  Int8Codec codec;                // scales of the list codes
  std::vector<PackedRows> lists;  // labels are the ids given to add_with_ids
  // Vectors enrolled after training (add_recent), scanned in full by every query. Their people
  // did not shape the lists: put in the nearest lists, a new person's photos spread over several
  // and were found 65% of the time at nprobe 16 (250k faces, 10% enrolled after training).
  // Scanned exactly (int8, then re-ranked) they are always found, at a cost per query that grows
  // with their number, so past recent_limit() the gallery re-trains (wants_training).
  PackedRows recent;

  void train(idx_t n, const float* x) override;
  void add(idx_t n, const float* x) override;
  void add_with_ids(idx_t n, const float* x, const idx_t* xids) override;  // into the lists
  void add_recent(idx_t n, const float* x, const idx_t* xids);             // into `recent`
  // max(kRecentMin, kRecentShare of the listed vectors): 30k at 1M, about 0.5 ms per query.
  std::size_t recent_limit() const;
  bool wants_training(idx_t more_recent) const;
  static constexpr std::size_t kRecentMin = 4096;
  static constexpr double kRecentShare = 0.03;
  void reset() override;  // keeps the training; empties lists and `recent`
  // reset() and add these, keeping the vectors that were in lists there and putting every other
  // one (recent, or new to this index) in `recent`: only the training decides what is listed.
  void replace_all(idx_t n, const float* x, const idx_t* xids);
  std::size_t remove_ids(const faiss::IDSelector& sel) override;
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;

  std::vector<idx_t> ids() const;  // every stored id, list by list, then the recent ones
  // Rebuilds quantizer and list codes from centroids and vectors (after training or loading).
  void set_centroids(const float* centroids);

 private:
  idx_t coarse_depth() const;
  // lists[l], or `recent` for l == nlist (candidates carry their list number).
  const PackedRows& rows_of(std::size_t l) const { return l < lists.size() ? lists[l] : recent; }
  PackedRows& rows_of(std::size_t l) { return l < lists.size() ? lists[l] : recent; }
  void search_one(const float* query, const idx_t* probes, idx_t k, float* distances,
                  idx_t* labels) const;
};

}  // namespace clipface::gallery_detail
