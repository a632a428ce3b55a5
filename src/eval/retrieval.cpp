#include "clipface/eval/retrieval.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "clipface/errors.hpp"
#include "clipface/eval/neighbours.hpp"

namespace clipface::eval {

RetrievalResult evaluate_retrieval(const Matrix& embeddings, const std::vector<int>& labels) {
  if (labels.size() != embeddings.rows) {
    throw InputError("retrieval: " + std::to_string(labels.size()) + " labels for " +
                     std::to_string(embeddings.rows) + " embeddings");
  }
  if (embeddings.rows < 2) throw InputError("retrieval needs at least 2 embedded images");
  constexpr std::size_t kSearch = 6, kKeep = 5;
  const auto table = search_exact(embeddings, embeddings, kSearch);
  std::map<int, std::size_t> count;
  for (int label : labels) ++count[label];

  RetrievalResult result;
  result.queries = embeddings.rows;
  result.identities = count.size();
  for (const auto& [label, n] : count) result.multi_identities += n >= 2 ? 1 : 0;
  result.top1_label.assign(embeddings.rows, -1);
  std::size_t hit1 = 0, hit5 = 0, hit1_multi = 0, hit5_multi = 0;
  for (std::size_t q = 0; q < table.queries; ++q) {
    // Drop the query itself; when ties pushed it out of the 6, drop the last one instead.
    std::vector<long long> others;
    for (std::size_t j = 0; j < kSearch; ++j) {
      const long long id = table.id(q, j);
      if (id >= 0 && id != static_cast<long long>(q)) others.push_back(id);
    }
    if (others.size() > kKeep) others.resize(kKeep);
    bool h1 = false, h5 = false;
    for (std::size_t j = 0; j < others.size(); ++j) {
      const bool same = labels[others[j]] == labels[q];
      if (j == 0) {
        h1 = same;
        result.top1_label[q] = labels[others[0]];
      }
      h5 = h5 || same;
    }
    hit1 += h1;
    hit5 += h5;
    if (count[labels[q]] >= 2) {
      ++result.multi_queries;
      hit1_multi += h1;
      hit5_multi += h5;
    }
  }
  const auto frac = [](std::size_t a, std::size_t b) { return b ? double(a) / double(b) : 0.0; };
  result.top1 = frac(hit1, result.queries);
  result.top5 = frac(hit5, result.queries);
  result.top1_multi = frac(hit1_multi, result.multi_queries);
  result.top5_multi = frac(hit5_multi, result.multi_queries);
  return result;
}

nlohmann::json to_json(const RetrievalResult& r) {
  return {{"queries", r.queries},
          {"identities", r.identities},
          {"top1", r.top1},
          {"top5", r.top5},
          {"multi_image_queries", r.multi_queries},
          {"multi_image_identities", r.multi_identities},
          {"top1_multi_image", r.top1_multi},
          {"top5_multi_image", r.top5_multi}};
}

}  // namespace clipface::eval
