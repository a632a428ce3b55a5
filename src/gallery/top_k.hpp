// The k largest scores seen, with their labels: a min-heap of size k, so a score below the
// current k-th costs one comparison. A tie at the k-th place keeps the entry pushed first, so
// the result depends only on the scores and their order (the same for the SIMD and scalar
// kernels, which must give identical answers).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace clipface::gallery_detail {

template <class Score>
class TopK {
 public:
  struct Entry {
    Score score;
    std::int64_t label;
  };

  explicit TopK(std::size_t k) : k_(k) { heap_.reserve(k); }

  // Whether a score would enter (cheap pre-check for callers scanning many scores).
  bool admits(Score score) const {
    return heap_.size() < k_ || (k_ > 0 && score > heap_.front().score);
  }

  void push(Score score, std::int64_t label) {
    if (k_ == 0) return;
    if (heap_.size() < k_) {
      heap_.push_back({score, label});
      std::push_heap(heap_.begin(), heap_.end(), better);
    } else if (score > heap_.front().score) {
      std::pop_heap(heap_.begin(), heap_.end(), better);
      heap_.back() = {score, label};
      std::push_heap(heap_.begin(), heap_.end(), better);
    }
  }

  // Offers scores[i] with label first_label + i. Once the heap is full most ranges hold nothing
  // better than its worst, which a (vectorised) maximum tells before any per-score work.
  void push_range(const Score* scores, std::size_t n, std::int64_t first_label) {
    if (n == 0 || (full() && !admits(*std::max_element(scores, scores + n)))) return;
    for (std::size_t i = 0; i < n; ++i) {
      if (admits(scores[i])) push(scores[i], first_label + static_cast<std::int64_t>(i));
    }
  }

  std::size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() >= k_; }

  // Best first; equal scores by label, so the order does not depend on the order of pushes.
  std::vector<Entry> sorted() const {
    std::vector<Entry> out = heap_;
    std::sort(out.begin(), out.end(), better);
    return out;
  }

  // The best k, best first, into FAISS's result arrays; places beyond size() get -inf and -1,
  // as FAISS leaves them.
  void write(std::size_t k, float* scores, std::int64_t* labels) const {
    const std::vector<Entry> best = sorted();
    for (std::size_t j = 0; j < k; ++j) {
      const bool have = j < best.size();
      scores[j] =
          have ? static_cast<float>(best[j].score) : -std::numeric_limits<float>::infinity();
      labels[j] = have ? best[j].label : -1;
    }
  }

 private:
  // Higher score first; among equal scores the lower label. As the heap's "less", it keeps the
  // worst entry (lowest score; among equals the highest label) on top.
  static bool better(const Entry& a, const Entry& b) {
    return a.score != b.score ? a.score > b.score : a.label < b.label;
  }
  std::size_t k_;
  std::vector<Entry> heap_;
};

}  // namespace clipface::gallery_detail
