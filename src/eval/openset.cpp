#include "clipface/eval/openset.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "clipface/errors.hpp"
#include "clipface/eval/neighbours.hpp"
#include "clipface/eval/split.hpp"

namespace clipface::eval {

KnnClassifier::KnnClassifier(Matrix enrolled, std::vector<std::string> people, KnnVote rule)
    : enrolled_(std::move(enrolled)), people_(std::move(people)), rule_(rule) {
  validate(rule_);
  if (people_.size() != enrolled_.rows) throw InputError("KnnClassifier: one name per row needed");
}

std::string KnnClassifier::name() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "knn(k1=%d, k2=%d, threshold=%.2f)", rule_.k1, rule_.k2,
                static_cast<double>(rule_.threshold));
  return buf;
}

std::string KnnClassifier::confidence_meaning() const {
  return "cosine similarity of the predicted person's nearest enrolled face (clamped to [0, 1]); "
         "0 when the vote gives no name";
}

std::vector<Prediction> KnnClassifier::predict(const Matrix& embeddings) const {
  const auto table = search_exact(enrolled_, embeddings, static_cast<std::size_t>(rule_.k2));
  std::vector<Prediction> out(embeddings.rows);
  std::vector<Neighbor> list;
  for (std::size_t q = 0; q < embeddings.rows; ++q) {
    list.clear();
    for (std::size_t j = 0; j < table.k; ++j) {
      const long long id = table.id(q, j);
      if (id < 0) break;
      Neighbor n;
      n.face_id = id;
      n.person = people_[static_cast<std::size_t>(id)];
      n.l2 = table.distance(q, j);
      n.cosine = cosine_from_l2(n.l2);
      list.push_back(std::move(n));
    }
    const Decision d = decide(rule_, list);
    if (d.known()) out[q] = {d.label, std::clamp(d.score, 0.0f, 1.0f)};
  }
  return out;
}

namespace {

// `enrolled_count(n)`: how many of a known person's n images are enrolled, 0 when the person
// cannot be known (too few images to leave a probe).
template <typename Count>
OpenSetSplit split_people(const std::vector<int>& labels, double known_fraction, std::uint64_t seed,
                          Count enrolled_count, const std::string& too_few) {
  std::map<int, std::vector<std::size_t>> rows_of;
  for (std::size_t i = 0; i < labels.size(); ++i) rows_of[labels[i]].push_back(i);
  std::vector<int> eligible;
  for (const auto& [person, rows] : rows_of) {
    if (enrolled_count(rows.size()) > 0) eligible.push_back(person);
  }
  if (eligible.empty()) throw InputError("open-set: nobody has " + too_few);
  SeededRandom random(seed);
  random.shuffle(eligible);
  std::size_t n = static_cast<std::size_t>(std::lround(known_fraction * double(eligible.size())));
  n = std::max<std::size_t>(n, 1);
  if (rows_of.size() >= 2) n = std::min(n, std::min(eligible.size(), rows_of.size() - 1));
  n = std::min(n, eligible.size());
  OpenSetSplit split;
  split.known_people.assign(eligible.begin(), eligible.begin() + static_cast<std::ptrdiff_t>(n));
  std::sort(split.known_people.begin(), split.known_people.end());
  for (auto& [person, rows] : rows_of) {
    if (!std::binary_search(split.known_people.begin(), split.known_people.end(), person)) {
      split.impostor.insert(split.impostor.end(), rows.begin(), rows.end());
      continue;
    }
    random.shuffle(rows);
    const auto cut = rows.begin() + static_cast<std::ptrdiff_t>(enrolled_count(rows.size()));
    split.enrolled.insert(split.enrolled.end(), rows.begin(), cut);
    split.genuine.insert(split.genuine.end(), cut, rows.end());
  }
  for (auto* v : {&split.enrolled, &split.genuine, &split.impostor})
    std::sort(v->begin(), v->end());
  return split;
}

}  // namespace

OpenSetSplit split_open_set(const std::vector<int>& labels, double known_fraction, int shots,
                            std::uint64_t seed) {
  if (shots < 1) throw InputError("open-set: --shots must be at least 1");
  const auto k = static_cast<std::size_t>(shots);
  return split_people(
      labels, known_fraction, seed, [k](std::size_t n) { return n >= k + 1 ? k : 0; },
      std::to_string(k + 1) + " images (shots + 1 probe)");
}

OpenSetSplit split_open_set_fraction(const std::vector<int>& labels, double known_fraction,
                                     double enroll_fraction, std::uint64_t seed) {
  if (!(enroll_fraction > 0 && enroll_fraction < 1)) {
    throw InputError("open-set: the train fraction must be between 0 and 1 (exclusive)");
  }
  return split_people(
      labels, known_fraction, seed,
      [enroll_fraction](std::size_t n) -> std::size_t {
        if (n < 2) return 0;
        const auto k = static_cast<std::size_t>(std::lround(enroll_fraction * double(n)));
        return std::clamp<std::size_t>(k, 1, n - 1);
      },
      "2 images (one to train on, one probe)");
}

nlohmann::json to_json(const OpenSetPoint& p) {
  return {{"threshold", std::round(static_cast<double>(p.threshold) * 100) / 100},
          {"genuine", p.genuine},
          {"impostor", p.impostor},
          {"genuine_correct", p.genuine_correct},
          {"genuine_misidentified", p.genuine_misidentified},
          {"genuine_rejected", p.genuine_rejected},
          {"impostor_accepted", p.impostor_accepted},
          {"accuracy", p.accuracy},
          {"fpr", p.fpr},
          {"fnr", p.fnr},
          {"misidentification", p.misidentification}};
}

}  // namespace clipface::eval
