#include "clipface/eval/split.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace clipface::eval {

std::uint64_t SeededRandom::next() {  // SplitMix64
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::size_t SeededRandom::below(std::size_t n) {
  return static_cast<std::size_t>(next() % n);
}

Split split_per_person(const std::vector<int>& labels, double enroll_fraction, std::uint64_t seed,
                       double unknown_people_fraction) {
  std::map<int, std::vector<std::size_t>> rows_of;
  for (std::size_t i = 0; i < labels.size(); ++i) rows_of[labels[i]].push_back(i);
  SeededRandom random(seed);
  std::vector<int> people;
  for (const auto& [person, rows] : rows_of) people.push_back(person);
  std::vector<int> unknown;
  if (unknown_people_fraction > 0 && people.size() > 1) {
    std::vector<int> order = people;
    random.shuffle(order);
    std::size_t n = static_cast<std::size_t>(std::lround(unknown_people_fraction * people.size()));
    n = std::clamp<std::size_t>(n, 1, people.size() - 1);
    unknown.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
  }
  Split split;
  for (auto& [person, rows] : rows_of) {
    if (std::find(unknown.begin(), unknown.end(), person) != unknown.end()) {
      split.validation.insert(split.validation.end(), rows.begin(), rows.end());
      continue;
    }
    random.shuffle(rows);
    std::size_t n = rows.size();
    std::size_t enrolled = n;
    if (n >= 2) {
      enrolled = static_cast<std::size_t>(std::lround(enroll_fraction * static_cast<double>(n)));
      enrolled = std::clamp<std::size_t>(enrolled, 1, n - 1);
    }
    split.enrolled.insert(split.enrolled.end(), rows.begin(),
                          rows.begin() + static_cast<std::ptrdiff_t>(enrolled));
    split.validation.insert(split.validation.end(),
                            rows.begin() + static_cast<std::ptrdiff_t>(enrolled), rows.end());
  }
  std::sort(split.enrolled.begin(), split.enrolled.end());
  std::sort(split.validation.begin(), split.validation.end());
  return split;
}

}  // namespace clipface::eval
