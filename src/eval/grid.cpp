#include "clipface/eval/grid.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "clipface/errors.hpp"
#include "clipface/eval/neighbours.hpp"

namespace clipface::eval {

double Counts::precision() const {
  return tp + fp ? double(tp) / double(tp + fp) : 0.0;
}
double Counts::recall() const {
  return tp + fn ? double(tp) / double(tp + fn) : 0.0;
}
double Counts::f1() const {
  const double p = precision(), r = recall();
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

void validate(const GridSpec& spec) {
  const bool ok = spec.threshold_min >= 0 && spec.threshold_min <= spec.threshold_max &&
                  spec.threshold_max <= 2 && spec.threshold_step > 0 &&
                  (spec.threshold_max - spec.threshold_min) / spec.threshold_step <= 2000;
  if (!ok) {
    throw InputError("grid thresholds must be MIN MAX STEP with 0 <= MIN <= MAX <= 2 and at most "
                     "2,000 steps (got " + std::to_string(spec.threshold_min) + " " +
                     std::to_string(spec.threshold_max) + " " +
                     std::to_string(spec.threshold_step) + ")");
  }
}

std::vector<float> GridSpec::thresholds() const {
  std::vector<float> out;
  if (threshold_step <= 0) return {threshold_min};
  const int steps = static_cast<int>(std::lround((threshold_max - threshold_min) / threshold_step));
  for (int i = 0; i <= steps; ++i) {
    // Round to the step's decimals so that 0.57 is 0.57, not 0.56999.
    const double t = threshold_min + i * static_cast<double>(threshold_step);
    out.push_back(static_cast<float>(std::round(t * 1e6) / 1e6));
  }
  return out;
}

GridData prepare_grid(const Matrix& embeddings, const std::vector<int>& labels,
                      const std::vector<std::string>& names, const Split& split,
                      std::size_t max_k) {
  if (split.enrolled.empty()) throw InputError("grid search: nobody is enrolled");
  if (split.validation.empty()) {
    throw InputError("grid search: no validation images (every person has a single image?)");
  }
  // Enrolled people get dense ids 0..n-1 in name order; everyone else is -1.
  std::map<int, int> enrolled_id;
  for (std::size_t row : split.enrolled) enrolled_id[labels[row]] = 0;
  GridData data;
  for (auto& [label, id] : enrolled_id) {
    id = static_cast<int>(data.people.size());
    data.people.push_back(names.at(static_cast<std::size_t>(label)));
  }
  data.enrolled_people = static_cast<int>(data.people.size());
  const Matrix base = select_rows(embeddings, split.enrolled);
  const Matrix queries = select_rows(embeddings, split.validation);
  const auto table = search_exact(base, queries, max_k);
  data.queries = queries.rows;
  data.k = max_k;
  data.truth.reserve(data.queries);
  for (std::size_t row : split.validation) {
    auto it = enrolled_id.find(labels[row]);
    data.truth.push_back(it == enrolled_id.end() ? -1 : it->second);
  }
  data.neighbour_label.assign(table.ids.size(), -1);
  data.neighbour_l2 = table.l2;
  for (std::size_t i = 0; i < table.ids.size(); ++i) {
    if (table.ids[i] >= 0) {
      data.neighbour_label[i] = enrolled_id.at(labels[split.enrolled[table.ids[i]]]);
    }
  }
  return data;
}

namespace {

// winner[q * (k + 1) + L] = the person with strictly the most votes among the first L neighbours
// of query q, or -1 (no neighbour or a tie). It does not depend on the rule, so a grid computes
// it once; every rule then reduces to two lookups.
std::vector<int> prefix_winners(const GridData& data) {
  const std::size_t k = data.k;
  std::vector<int> winner(data.queries * (k + 1), -1);
  std::vector<int> votes(static_cast<std::size_t>(data.enrolled_people), 0);
  for (std::size_t q = 0; q < data.queries; ++q) {
    int best = -1, best_votes = 0, runner_up = 0;
    for (std::size_t j = 0; j < k; ++j) {
      const int person = data.neighbour_label[q * k + j];
      if (person >= 0) {
        const int v = ++votes[static_cast<std::size_t>(person)];
        if (person == best) {
          best_votes = v;
        } else if (v > best_votes) {
          runner_up = best_votes;
          best = person;
          best_votes = v;
        } else if (v > runner_up) {
          runner_up = v;
        }
      }
      winner[q * (k + 1) + j + 1] = best_votes > runner_up ? best : -1;
    }
    for (std::size_t j = 0; j < k; ++j) {
      const int person = data.neighbour_label[q * k + j];
      if (person >= 0) votes[static_cast<std::size_t>(person)] = 0;
    }
  }
  return winner;
}

// Neighbours within the threshold (a prefix, since they come nearest first).
std::size_t within(const GridData& data, std::size_t q, float threshold) {
  std::size_t m = 0;
  while (m < data.k && data.neighbour_label[q * data.k + m] >= 0 &&
         data.neighbour_l2[q * data.k + m] <= threshold) {
    ++m;
  }
  return m;
}

inline int vote(const int* winners, std::size_t m, int k1, int k2) {
  const std::size_t r1 = std::min<std::size_t>(static_cast<std::size_t>(k1), m);
  if (r1 > 0 && winners[r1] >= 0) return winners[r1];
  const std::size_t r2 = std::min<std::size_t>(static_cast<std::size_t>(k2), m);
  if (r2 > r1 && winners[r2] >= 0) return winners[r2];
  return -1;
}

inline void count(Counts& c, int truth, int predicted, int people) {
  if (predicted >= 0) {
    if (predicted == truth) {
      ++c.tp;
      c.tn += people - 1;
    } else {
      ++c.fp;
      if (truth >= 0) {
        ++c.fn;
        c.tn += people - 2;
      } else {
        c.tn += people - 1;
      }
    }
  } else if (truth >= 0) {
    ++c.fn;
    c.tn += people - 1;
  } else {
    c.tn += people;
  }
}

void check_k(const GridData& data, int k2) {
  if (static_cast<std::size_t>(k2) > data.k) {
    throw InputError("grid: k2 = " + std::to_string(k2) + " but only " + std::to_string(data.k) +
                     " neighbours were searched");
  }
}

}  // namespace

std::vector<int> predict(const GridData& data, const KnnVote& rule) {
  validate(rule);
  check_k(data, rule.k2);
  const auto winners = prefix_winners(data);
  std::vector<int> out(data.queries);
  for (std::size_t q = 0; q < data.queries; ++q) {
    out[q] = vote(&winners[q * (data.k + 1)], within(data, q, rule.threshold), rule.k1, rule.k2);
  }
  return out;
}

std::vector<Decision> decide_all(const GridData& data, const KnnVote& rule) {
  validate(rule);
  std::vector<Decision> out;
  out.reserve(data.queries);
  std::vector<Neighbor> list;
  for (std::size_t q = 0; q < data.queries; ++q) {
    list.clear();
    for (std::size_t j = 0; j < data.k; ++j) {
      const int person = data.neighbour_label[q * data.k + j];
      if (person < 0) break;
      Neighbor n;
      n.person = data.people[static_cast<std::size_t>(person)];
      n.l2 = data.neighbour_l2[q * data.k + j];
      n.cosine = cosine_from_l2(n.l2);
      list.push_back(std::move(n));
    }
    out.push_back(decide(rule, list));
  }
  return out;
}

Counts count_one_vs_rest(const std::vector<int>& truth, const std::vector<int>& predicted,
                         int enrolled_people) {
  if (truth.size() != predicted.size()) throw InputError("count: truth and predictions differ");
  Counts c;
  for (std::size_t i = 0; i < truth.size(); ++i) count(c, truth[i], predicted[i], enrolled_people);
  return c;
}

std::vector<GridPoint> run_grid(const GridData& data, const GridSpec& spec) {
  check_k(data, spec.k2_max);
  const auto winners = prefix_winners(data);
  const auto thresholds = spec.thresholds();
  std::vector<std::pair<int, int>> ks;
  for (int k1 = spec.k1_min; k1 <= spec.k1_max; ++k1) {
    for (int k2 = std::max(k1 + 1, spec.k2_min); k2 <= spec.k2_max; ++k2) ks.emplace_back(k1, k2);
  }
  // counts[pair][threshold], filled threshold by threshold so `within` runs once per query.
  std::vector<Counts> counts(ks.size() * thresholds.size());
  std::vector<std::size_t> m(data.queries);
  for (std::size_t t = 0; t < thresholds.size(); ++t) {
    for (std::size_t q = 0; q < data.queries; ++q) m[q] = within(data, q, thresholds[t]);
    for (std::size_t p = 0; p < ks.size(); ++p) {
      Counts& c = counts[p * thresholds.size() + t];
      const auto [k1, k2] = ks[p];
      for (std::size_t q = 0; q < data.queries; ++q) {
        count(c, data.truth[q], vote(&winners[q * (data.k + 1)], m[q], k1, k2),
              data.enrolled_people);
      }
    }
  }
  std::vector<GridPoint> points;
  points.reserve(counts.size());
  for (std::size_t p = 0; p < ks.size(); ++p) {
    for (std::size_t t = 0; t < thresholds.size(); ++t) {
      points.push_back(
          {ks[p].first, ks[p].second, thresholds[t], counts[p * thresholds.size() + t]});
    }
  }
  return points;
}

const GridPoint& best_point(const std::vector<GridPoint>& points) {
  if (points.empty()) throw InputError("grid search: empty grid");
  std::size_t best = 0;
  for (std::size_t i = 1; i < points.size(); ++i) {
    if (points[i].counts.f1() > points[best].counts.f1()) best = i;
  }
  return points[best];
}

void write_grid_csv(const std::filesystem::path& path, const std::vector<GridPoint>& points,
                    const std::string& warning) {
  std::ofstream out(path);
  if (!out) throw InputError("cannot write '" + path.string() + "'");
  if (!warning.empty()) out << "# " << warning << "\n";
  out << "k1,k2,threshold,precision,recall,f1,tp,fp,tn,fn\n";
  char line[256];
  for (const auto& p : points) {
    std::snprintf(line, sizeof line, "%d,%d,%.2f,%.6f,%.6f,%.6f,%lld,%lld,%lld,%lld\n", p.k1, p.k2,
                  static_cast<double>(p.threshold), p.counts.precision(), p.counts.recall(),
                  p.counts.f1(), static_cast<long long>(p.counts.tp),
                  static_cast<long long>(p.counts.fp), static_cast<long long>(p.counts.tn),
                  static_cast<long long>(p.counts.fn));
    out << line;
  }
  if (!out.flush()) throw InputError("cannot write '" + path.string() + "'");
}

nlohmann::json to_json(const GridPoint& p) {
  return {{"k1", p.k1},
          {"k2", p.k2},
          {"threshold", std::round(static_cast<double>(p.threshold) * 100) / 100},
          {"precision", p.counts.precision()},
          {"recall", p.counts.recall()},
          {"f1", p.counts.f1()},
          {"tp", p.counts.tp},
          {"fp", p.counts.fp},
          {"tn", p.counts.tn},
          {"fn", p.counts.fn}};
}

}  // namespace clipface::eval
