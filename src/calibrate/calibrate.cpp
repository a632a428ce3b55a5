// Probes (genuine leave-one-out, impostor leave-one-person-out, strangers, negatives) searched
// once; FAR and FRR as exact step functions of the threshold (a probe's decision can only change
// at one of its neighbours' distances); the threshold for the target; per-person exceptions.
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "clipface/calibration.hpp"
#include "clipface/errors.hpp"

namespace clipface {
namespace {

struct Probe {
  std::string truth;  // "" for an impostor
  std::string source;
  std::int64_t face_id = 0;
  std::vector<Neighbor> nearest;  // up to k2, nearest first, exclusions applied
};

struct Probes {
  std::vector<Probe> genuine, impostor, negative;
};

std::vector<std::size_t> sample(std::size_t n, std::size_t limit, std::uint64_t seed) {
  std::vector<std::size_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  if (n > limit) {
    std::mt19937_64 rng(seed);
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(limit);
    std::sort(rows.begin(), rows.end());
  }
  return rows;
}

class Searcher {
 public:
  Searcher(const CalibrationData& d, int k2)
      : d_(d), k2_(k2), index_(static_cast<int>(d.labelled.cols)) {
    if (d.labelled.rows > 0) {
      index_.add(static_cast<faiss::Index::idx_t>(d.labelled.rows), d.labelled.data.data());
    }
    std::map<std::string, std::size_t> person, image;
    for (std::size_t i = 0; i < d.people.size(); ++i) {
      ++person[d.people[i]];
      if (i < d.images.size()) ++image[d.images[i]];
    }
    std::size_t widest = 0;
    for (const auto& [p, n] : person) widest = std::max(widest, n);
    std::size_t crowded = 0;
    for (const auto& [p, n] : image) crowded = std::max(crowded, n);
    k_ =
        std::min<std::size_t>(d.labelled.rows, static_cast<std::size_t>(k2) + widest + crowded + 1);
  }

  // Neighbours of `queries` rows, skipping the labelled rows `skip(q, row)` says to.
  template <class Skip>
  std::vector<std::vector<Neighbor>> search(const Matrix& queries,
                                            const std::vector<std::size_t>& rows, Skip skip) const {
    std::vector<std::vector<Neighbor>> out(rows.size());
    if (rows.empty() || k_ == 0) return out;
    const auto k = static_cast<faiss::Index::idx_t>(k_);
    constexpr std::size_t kBatch = 1024;
    std::vector<float> q, scores;
    std::vector<faiss::Index::idx_t> ids;
    for (std::size_t start = 0; start < rows.size(); start += kBatch) {
      const std::size_t n = std::min(kBatch, rows.size() - start);
      q.resize(n * queries.cols);
      for (std::size_t i = 0; i < n; ++i) {
        const auto r = queries.row(rows[start + i]);
        std::copy(r.begin(), r.end(), q.begin() + i * queries.cols);
      }
      scores.resize(n * k_);
      ids.resize(n * k_);
      index_.search(static_cast<faiss::Index::idx_t>(n), q.data(), k, scores.data(), ids.data());
      for (std::size_t i = 0; i < n; ++i) {
        auto& list = out[start + i];
        for (std::size_t j = 0; j < k_ && list.size() < static_cast<std::size_t>(k2_); ++j) {
          const auto id = ids[i * k_ + j];
          if (id < 0 || skip(start + i, static_cast<std::size_t>(id))) continue;
          const float cosine = std::clamp(scores[i * k_ + j], -1.0f, 1.0f);
          list.push_back({static_cast<long long>(id), d_.people[static_cast<std::size_t>(id)],
                          cosine, l2_from_cosine(cosine)});
        }
      }
    }
    return out;
  }

 private:
  const CalibrationData& d_;
  int k2_;
  std::size_t k_ = 0;
  faiss::IndexFlatIP index_;
};

bool same_image(const CalibrationData& d, std::size_t a, std::size_t b) {
  return a < d.images.size() && b < d.images.size() && !d.images[a].empty() &&
         d.images[a] == d.images[b];
}

std::int64_t face_id_of(const CalibrationData& d, std::size_t row) {
  return row < d.face_ids.size() ? d.face_ids[row] : 0;
}

Probes make_probes(const CalibrationData& d, int k2, const CalibrationOptions& o) {
  Probes p;
  const Searcher searcher(d, k2);
  const std::vector<std::size_t> rows = sample(d.labelled.rows, o.max_probes, o.seed);
  // Genuine: without the face itself and the other faces of its photo.
  const auto genuine = searcher.search(d.labelled, rows, [&](std::size_t q, std::size_t j) {
    const std::size_t i = rows[q];
    return j == i || same_image(d, i, j);
  });
  // Impostor: without every face of its person (and of its photo).
  const auto impostor = searcher.search(d.labelled, rows, [&](std::size_t q, std::size_t j) {
    const std::size_t i = rows[q];
    return d.people[j] == d.people[i] || same_image(d, i, j);
  });
  for (std::size_t q = 0; q < rows.size(); ++q) {
    const std::size_t i = rows[q];
    const bool has_own = std::any_of(genuine[q].begin(), genuine[q].end(),
                                     [&](const Neighbor& n) { return n.person == d.people[i]; });
    if (has_own) p.genuine.push_back({d.people[i], "labelled", face_id_of(d, i), genuine[q]});
    if (!impostor[q].empty()) {
      p.impostor.push_back({"", "labelled (without its person)", face_id_of(d, i), impostor[q]});
    }
  }
  const auto strangers = sample(d.strangers.rows, o.max_probes, o.seed + 1);
  const auto found =
      searcher.search(d.strangers, strangers, [](std::size_t, std::size_t) { return false; });
  for (std::size_t q = 0; q < strangers.size(); ++q) {
    const std::size_t i = strangers[q];
    p.impostor.push_back(
        {"", i < d.stranger_sources.size() ? d.stranger_sources[i] : "stranger", 0, found[q]});
  }
  std::vector<std::size_t> all(d.negatives.rows);
  std::iota(all.begin(), all.end(), 0);
  const auto negatives = searcher.search(d.negatives, all, [&](std::size_t q, std::size_t j) {
    return q < d.negative_face_ids.size() && d.negative_face_ids[q] != 0 &&
           face_id_of(d, j) == d.negative_face_ids[q];
  });
  for (std::size_t q = 0; q < all.size(); ++q) {
    p.negative.push_back({d.negative_people[q], "negative",
                          q < d.negative_face_ids.size() ? d.negative_face_ids[q] : 0,
                          negatives[q]});
  }
  return p;
}

bool accepted(const KnnVote& rule, const Probe& p) {
  return decide(rule, p.nearest).known();
}
bool named_right(const KnnVote& rule, const Probe& p) {
  return decide(rule, p.nearest).label == p.truth;
}

struct Counts {
  std::size_t false_accepts = 0, genuine_right = 0;
};
Counts count(const Probes& p, const KnnVote& rule) {
  Counts c;
  for (const auto& probe : p.impostor) c.false_accepts += accepted(rule, probe) ? 1 : 0;
  for (const auto& probe : p.genuine) c.genuine_right += named_right(rule, probe) ? 1 : 0;
  return c;
}

// A rate as a step function of the threshold: (distance, change) events, summed in order.
struct Steps {
  std::vector<std::pair<float, int>> events;
  void add(const Probe& p, const KnnVote& base, bool genuine) {
    int before = 0;
    for (const Neighbor& n : p.nearest) {
      KnnVote rule = base;
      rule.threshold = n.l2;
      const int now = genuine ? (named_right(rule, p) ? 1 : 0) : (accepted(rule, p) ? 1 : 0);
      if (now != before) events.emplace_back(n.l2, now - before);
      before = now;
    }
  }
  void sort() { std::sort(events.begin(), events.end()); }
  // Value at threshold t (events at distance <= t count: a neighbour votes when l2 <= t).
  long long at(float t) const {
    long long v = 0;
    for (const auto& [d, change] : events) {
      if (d > t) break;
      v += change;
    }
    return v;
  }
};

double binomial_cdf(std::size_t k, std::size_t n, double p) {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  double sum = 0;
  for (std::size_t i = 0; i <= k; ++i) {
    const double log_term = std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) +
                            double(i) * std::log(p) + double(n - i) * std::log1p(-p);
    sum += std::exp(log_term);
  }
  return std::min(1.0, sum);
}

// One-sided 95% Clopper-Pearson upper bound of a rate seen k times in n.
double upper_bound(std::size_t k, std::size_t n) {
  if (n == 0) return 1;
  if (k >= n) return 1;
  double lo = double(k) / double(n), hi = 1;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (binomial_cdf(k, n, mid) > 0.05 ? lo : hi) = mid;
  }
  return hi;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Genuine probes of one person named right under a rule.
std::size_t right_of(const Probes& p, const KnnVote& rule, const std::string& person) {
  std::size_t n = 0;
  for (const auto& probe : p.genuine) {
    if (probe.truth == person && named_right(rule, probe)) ++n;
  }
  return n;
}

void per_person(const Probes& p, CalibrationResult& r, double target) {
  const auto allowed =
      static_cast<std::size_t>(std::floor(target * double(p.impostor.size()) + 1e-9));
  // Each person's photos: median distance from a photo to the nearest other photo of theirs.
  std::map<std::string, std::vector<float>> own;
  std::map<std::string, std::size_t> probes_of;
  for (const auto& probe : p.genuine) {
    ++probes_of[probe.truth];
    for (const Neighbor& n : probe.nearest) {
      if (n.person == probe.truth) {
        own[probe.truth].push_back(n.l2);
        break;
      }
    }
  }
  std::map<std::string, float> median;
  for (auto& [person, d] : own) {
    if (d.size() < 3) continue;
    std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
    median[person] = d[d.size() / 2];
  }
  KnnVote& rule = r.rule;
  std::map<std::string, std::string> reason;
  if (median.size() >= 10) {
    std::vector<float> all;
    for (const auto& [person, m] : median) all.push_back(m);
    std::sort(all.begin(), all.end());
    // Unusual = in the outer tenth and a quarter away from the typical person.
    const float typical = all[all.size() / 2];
    const float low = std::min(all[all.size() / 10], 0.75f * typical);
    const float high = std::max(all[all.size() - 1 - all.size() / 10], 1.25f * typical);
    for (const auto& [person, m] : median) {
      const std::size_t right = right_of(p, rule, person);
      const std::string spread = " (median distance between their photos " + number(m) +
                                 ", the gallery's typical person " + number(typical) + ")";
      if (m > high) {
        // Varied: the loosest threshold that names more of them and keeps FAR within the target.
        float best = -1;
        std::size_t best_right = right;
        for (float t = rule.threshold + 0.01f; t <= rule.threshold + 0.15f + 1e-6f; t += 0.01f) {
          KnnVote trial = rule;
          trial.person_thresholds[person] = t;
          if (count(p, trial).false_accepts > allowed) break;
          const std::size_t now = right_of(p, trial, person);
          if (now > best_right) best = t, best_right = now;
        }
        if (best > 0) {
          rule.person_thresholds[person] = best;
          reason[person] = "photos unusually varied" + spread + ": looser, " +
                           std::to_string(best_right) + " of " + std::to_string(probes_of[person]) +
                           " named instead of " + std::to_string(right);
        }
      } else if (m < low) {
        // Alike: the tightest threshold that still names every photo of theirs it named.
        float best = -1;
        for (float t = rule.threshold - 0.01f; t >= std::max(0.0f, rule.threshold - 0.15f);
             t -= 0.01f) {
          KnnVote trial = rule;
          trial.person_thresholds[person] = t;
          if (right_of(p, trial, person) < right) break;
          best = t;
        }
        if (best > 0) {
          rule.person_thresholds[person] = best;
          reason[person] = "photos unusually alike" + spread +
                           ": tighter, so strangers are less easily taken for them";
        }
      }
    }
  }
  // Negative examples: a face known not to be X that would be named X tightens X until it is not.
  for (const auto& probe : p.negative) {
    const Decision d = decide(rule, probe.nearest);
    if (d.label != probe.truth) continue;
    float nearest = 2;
    for (const Neighbor& n : probe.nearest) {
      if (n.person == probe.truth) nearest = std::min(nearest, n.l2);
    }
    const float t = std::max(0.0f, nearest - 0.005f);
    const std::size_t before = right_of(p, rule, probe.truth);
    rule.person_thresholds[probe.truth] = std::min(rule.threshold_for(probe.truth), t);
    const std::size_t after = right_of(p, rule, probe.truth);
    reason[probe.truth] = "face " + std::to_string(probe.face_id) + " is not " + probe.truth +
                          " but would have been named so: tighter (" + std::to_string(after) +
                          " of " + std::to_string(probes_of[probe.truth]) +
                          " of their own photos named, " + std::to_string(before) + " before)";
  }
  for (const auto& [person, t] : rule.person_thresholds) {
    r.people.push_back({person, t, reason[person]});
  }
}

}  // namespace

std::size_t impostors_needed(double far) {
  return static_cast<std::size_t>(std::ceil(1.0 / far - 1e-9));
}

CalibrationResult calibrate(const CalibrationData& d, const CalibrationOptions& o,
                            const KnnVote& base) {
  if (!(o.target_far > 0 && o.target_far < 1)) {
    throw InputError("--far must be between 0 and 1 (exclusive), got " + number(o.target_far));
  }
  if (d.labelled.rows != d.people.size())
    throw InputError("calibration: one person per face needed");
  KnnVote rule = base;
  rule.person_thresholds.clear();
  if (o.k1 > 0) rule.k1 = o.k1;
  if (o.k2 > 0) rule.k2 = o.k2;
  if (rule.k2 < rule.k1) rule.k2 = rule.k1;
  validate(rule);

  const Probes p = make_probes(d, rule.k2, o);
  CalibrationResult r;
  r.target_far = o.target_far;
  r.genuine = p.genuine.size();
  r.impostors = p.impostor.size();
  for (const auto& probe : p.impostor) ++r.impostor_sources[probe.source];
  const std::size_t needed = impostors_needed(o.target_far);
  if (r.impostors < needed) {
    std::set<std::string> people(d.people.begin(), d.people.end());
    std::string sources;
    for (const auto& [source, n] : r.impostor_sources) {
      sources += (sources.empty() ? "" : ", ") + std::to_string(n) + " " + source;
    }
    throw InputError(
        "too few faces to calibrate for FAR " + number(o.target_far) + ": that needs at least " +
        std::to_string(needed) + " impostor probes (faces searched without their own person, " +
        "known strangers or unlabelled faces), and " + std::to_string(d.labelled.rows) +
        " labelled faces of " + std::to_string(people.size()) + " people give " +
        std::to_string(r.impostors) + (sources.empty() ? "" : " (" + sources + ")") +
        "; add at least " + std::to_string(needed - r.impostors) +
        " more faces (new people, or known strangers with clipface add GALLERY --strangers DIR), "
        "or calibrate for --far " +
        number(r.impostors > 0 ? 1.0 / double(r.impostors) : 1.0) +
        " or higher (the smallest FAR these faces can measure)");
  }

  Steps far_steps, right_steps;
  for (const auto& probe : p.impostor) far_steps.add(probe, rule, false);
  for (const auto& probe : p.genuine) right_steps.add(probe, rule, true);
  far_steps.sort();
  right_steps.sort();
  for (const auto& probe : p.genuine) {
    for (const Neighbor& n : probe.nearest) {
      if (n.person == probe.truth) {
        r.genuine_distances.push_back(n.l2);
        break;
      }
    }
  }
  for (const auto& probe : p.impostor) {
    if (!probe.nearest.empty()) r.impostor_distances.push_back(probe.nearest.front().l2);
  }

  // The largest threshold with FAR <= target, midway between the event that would exceed it and
  // the last event below.
  const auto allowed =
      static_cast<long long>(std::floor(o.target_far * double(r.impostors) + 1e-9));
  std::vector<float> all_events;
  for (const auto& e : far_steps.events) all_events.push_back(e.first);
  for (const auto& e : right_steps.events) all_events.push_back(e.first);
  std::sort(all_events.begin(), all_events.end());
  float chosen = all_events.empty() ? 2.0f : all_events.back();
  long long running = 0;
  for (std::size_t i = 0; i < far_steps.events.size(); ++i) {
    const float at = far_steps.events[i].first;
    running += far_steps.events[i].second;
    const bool last_at_distance =
        i + 1 == far_steps.events.size() || far_steps.events[i + 1].first != at;
    if (last_at_distance && running > allowed) {
      const auto below = std::lower_bound(all_events.begin(), all_events.end(), at);
      const float previous = below == all_events.begin() ? 0.0f : *std::prev(below);
      chosen = 0.5f * (previous + at);
      break;
    }
  }
  rule.threshold = chosen;
  r.rule = rule;
  if (o.per_person) per_person(p, r, o.target_far);

  const Counts final_counts = count(p, r.rule);
  r.far = double(final_counts.false_accepts) / double(r.impostors);
  r.far_upper = upper_bound(final_counts.false_accepts, r.impostors);
  r.frr = r.genuine ? 1.0 - double(final_counts.genuine_right) / double(r.genuine) : -1.0;

  const float top = std::max(0.1f, 1.2f * (all_events.empty() ? 1.0f : all_events.back()));
  for (int i = 0; i <= 200; ++i) {
    const float t = top * float(i) / 200.0f;
    CalibrationCurvePoint c;
    c.threshold = t;
    c.far = double(far_steps.at(t)) / double(r.impostors);
    c.frr = r.genuine ? 1.0 - double(right_steps.at(t)) / double(r.genuine) : 0.0;
    r.curve.push_back(c);
  }
  return r;
}

RateAt held_out_rates(const CalibrationData& gallery, const Matrix& probes,
                      const std::vector<std::string>& truth, const KnnVote& rule) {
  if (truth.size() != probes.rows) throw InputError("held_out_rates: one truth per probe needed");
  const Searcher searcher(gallery, rule.k2);
  std::vector<std::size_t> rows(probes.rows);
  std::iota(rows.begin(), rows.end(), 0);
  const auto found = searcher.search(probes, rows, [](std::size_t, std::size_t) { return false; });
  RateAt r;
  std::size_t false_accepts = 0, right = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Decision d = decide(rule, found[i]);
    if (truth[i].empty()) {
      ++r.impostors;
      false_accepts += d.known() ? 1 : 0;
    } else {
      ++r.genuine;
      right += d.label == truth[i] ? 1 : 0;
    }
  }
  r.far = r.impostors ? double(false_accepts) / double(r.impostors) : 0;
  r.frr = r.genuine ? 1.0 - double(right) / double(r.genuine) : 0;
  return r;
}

}  // namespace clipface
