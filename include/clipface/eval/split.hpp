// Deterministic samplings given a seed: the same seed gives the same split on every platform
// (SplitMix64 and our own Fisher-Yates, not std::shuffle whose algorithm is unspecified).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace clipface::eval {

class SeededRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  std::size_t below(std::size_t n);  // uniform in [0, n); n > 0
  template <class T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  std::uint64_t state_;
};

struct Split {
  std::vector<std::size_t> enrolled;    // rows that go into the gallery
  std::vector<std::size_t> validation;  // rows that query it
};

// Per person: shuffle their images (seeded), enroll round(n * enroll_fraction) of them, clamped to
// [1, n - 1] so that every person with 2+ images has both; a person with 1 image is enrolled only.
// With unknown_people_fraction > 0, that share of people (seeded pick, at least 1 when > 0) is not
// enrolled at all: all their images go to validation as strangers. Both lists come out sorted.
Split split_per_person(const std::vector<int>& labels, double enroll_fraction, std::uint64_t seed,
                       double unknown_people_fraction = 0);

}  // namespace clipface::eval
