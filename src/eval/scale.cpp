#include "clipface/eval/scale.hpp"

#include <faiss/IndexFlat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "clipface/errors.hpp"
#include "clipface/eval/grid.hpp"
#include "clipface/eval/neighbours.hpp"
#include "clipface/eval/retrieval.hpp"
#include "clipface/eval/split.hpp"

namespace clipface::eval {

std::vector<std::size_t> default_people_counts(std::size_t people) {
  std::vector<std::size_t> counts;
  for (std::size_t n = 5; n < people; n *= 2) counts.push_back(n);
  if (people > 0) counts.push_back(people);
  return counts;
}

std::vector<ScalePoint> evaluate_scale(const EmbeddedSet& set,
                                       const std::vector<std::size_t>& counts, const KnnVote& rule,
                                       double enroll_fraction, std::uint64_t seed) {
  std::vector<std::string> names;
  const auto labels = set.label_ids(&names);
  std::vector<int> order(names.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  SeededRandom random(seed);
  random.shuffle(order);

  std::vector<ScalePoint> points;
  for (std::size_t count : counts) {
    if (count < 2 || count > names.size()) continue;
    std::vector<char> chosen(names.size(), 0);
    for (std::size_t i = 0; i < count; ++i) chosen[static_cast<std::size_t>(order[i])] = 1;
    std::vector<std::size_t> rows;
    for (std::size_t r = 0; r < labels.size(); ++r) {
      if (chosen[static_cast<std::size_t>(labels[r])]) rows.push_back(r);
    }
    ScalePoint p;
    p.people = count;
    p.images = rows.size();
    for (std::size_t r : rows) p.embed_seconds += set.embed_seconds[r];
    const Matrix sub = select_rows(set.embeddings, rows);
    std::vector<int> sub_labels;
    for (std::size_t r : rows) sub_labels.push_back(labels[r]);

    const auto start = std::chrono::steady_clock::now();
    faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(sub.cols));
    index.add(static_cast<faiss::Index::idx_t>(sub.rows), sub.data.data());
    p.index_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (sub.rows >= 2) {
      const auto retrieval = evaluate_retrieval(sub, sub_labels);
      p.top1 = retrieval.top1;
      p.top5 = retrieval.top5;
    }
    const Split split = split_per_person(sub_labels, enroll_fraction, seed);
    if (!split.validation.empty()) {
      const auto data =
          prepare_grid(sub, sub_labels, names, split, static_cast<std::size_t>(rule.k2));
      const auto predicted = predict(data, rule);
      p.identify_f1 = count_one_vs_rest(data.truth, predicted, data.enrolled_people).f1();
      std::size_t right = 0;
      for (std::size_t q = 0; q < predicted.size(); ++q) right += predicted[q] == data.truth[q];
      p.identify_accuracy = predicted.empty() ? 0 : double(right) / double(predicted.size());
    }
    points.push_back(p);
  }
  if (points.empty()) throw InputError("scale: fewer than 2 people to evaluate");
  return points;
}

nlohmann::json to_json(const ScalePoint& p) {
  return {{"people", p.people},
          {"images", p.images},
          {"embed_seconds", p.embed_seconds},
          {"index_seconds", p.index_seconds},
          {"load_seconds", p.embed_seconds + p.index_seconds},
          {"top1", p.top1},
          {"top5", p.top5},
          {"identify_f1", p.identify_f1},
          {"identify_accuracy", p.identify_accuracy}};
}

}  // namespace clipface::eval
