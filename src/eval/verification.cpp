#include "clipface/eval/verification.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "clipface/errors.hpp"

namespace clipface::eval {
namespace {

bool parse_int(const std::string& text, int& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

struct Ranked {
  float score;
  bool same;
};

std::vector<Ranked> ranked(const std::vector<float>& scores, const std::vector<bool>& same) {
  if (scores.size() != same.size()) throw InputError("verification: scores and labels differ");
  std::vector<Ranked> r(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) r[i] = {scores[i], same[i]};
  std::sort(r.begin(), r.end(), [](const Ranked& a, const Ranked& b) { return a.score < b.score; });
  return r;
}

void subset(const PairsFile& file, const std::vector<float>& scores, int fold, bool in_fold,
            std::vector<float>& s, std::vector<bool>& same) {
  s.clear();
  same.clear();
  for (std::size_t i = 0; i < file.pairs.size(); ++i) {
    if ((file.pairs[i].fold == fold) == in_fold) {
      s.push_back(scores[i]);
      same.push_back(file.pairs[i].same);
    }
  }
}

std::vector<bool> same_of(const PairsFile& file) {
  std::vector<bool> same;
  for (const auto& p : file.pairs) same.push_back(p.same);
  return same;
}

void check_scores(const PairsFile& file, const std::vector<float>& scores) {
  if (file.pairs.size() != scores.size()) {
    throw InputError("verification: " + std::to_string(scores.size()) + " scores for " +
                     std::to_string(file.pairs.size()) + " pairs");
  }
}

}  // namespace

PairsFile read_pairs(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot open pairs file '" + path.string() + "'");
  PairsFile file;
  int declared = -1;  // View 1 count line
  std::string line;
  int line_no = 0;
  bool first = true;
  auto fail = [&](const std::string& why) {
    throw InputError(path.string() + ":" + std::to_string(line_no) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream fields_in(line);
    std::vector<std::string> f;
    for (std::string w; fields_in >> w;) f.push_back(w);
    if (f.empty()) continue;
    if (first) {
      first = false;
      int a = 0, b = 0;
      if (f.size() == 2 && parse_int(f[0], a) && parse_int(f[1], b)) {
        if (a < 1 || b < 1) fail("bad header '" + line + "'");
        file.view2 = true;
        file.folds = a;
        file.per_fold = b;
        continue;
      }
      if (f.size() == 1 && parse_int(f[0], a)) {
        declared = a;
        continue;
      }
    }
    FacePair p;
    if (f.size() == 3) {
      p.name_a = p.name_b = f[0];
      p.same = true;
      if (!parse_int(f[1], p.index_a) || !parse_int(f[2], p.index_b)) fail("bad image number");
    } else if (f.size() == 4) {
      p.name_a = f[0];
      p.name_b = f[2];
      if (!parse_int(f[1], p.index_a) || !parse_int(f[3], p.index_b)) fail("bad image number");
    } else {
      fail("expected 'name i j' or 'name1 i name2 j', got " + std::to_string(f.size()) + " fields");
    }
    if (p.index_a < 1 || p.index_b < 1) fail("image numbers start at 1");
    file.pairs.push_back(std::move(p));
  }
  if (file.pairs.empty()) throw InputError("no pairs in '" + path.string() + "'");
  if (file.view2) {
    const std::size_t expected = static_cast<std::size_t>(file.folds) * 2 * file.per_fold;
    if (file.pairs.size() != expected) {
      throw InputError(path.string() + ": header says " + std::to_string(file.folds) +
                       " folds of " + std::to_string(2 * file.per_fold) + " pairs, file has " +
                       std::to_string(file.pairs.size()));
    }
    for (std::size_t i = 0; i < file.pairs.size(); ++i) {
      file.pairs[i].fold = static_cast<int>(i / (2 * static_cast<std::size_t>(file.per_fold)));
    }
  } else if (declared >= 0 && file.pairs.size() != 2 * static_cast<std::size_t>(declared)) {
    throw InputError(path.string() + ": count line says " + std::to_string(declared) + " same + " +
                     std::to_string(declared) + " different pairs, file has " +
                     std::to_string(file.pairs.size()));
  }
  return file;
}

std::filesystem::path lfw_image_path(const std::filesystem::path& dir, const std::string& name,
                                     int index) {
  char file[32];
  std::snprintf(file, sizeof file, "_%04d.jpg", index);
  return dir / name / (name + file);
}

double accuracy_at(const std::vector<float>& scores, const std::vector<bool>& same,
                   float threshold) {
  if (scores.empty()) return 0;
  std::size_t right = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) right += (scores[i] >= threshold) == same[i];
  return double(right) / double(scores.size());
}

float best_threshold(const std::vector<float>& scores, const std::vector<bool>& same) {
  const auto r = ranked(scores, same);
  if (r.empty()) return 0;
  const std::size_t n = r.size();
  std::size_t same_total = 0;
  for (const auto& x : r) same_total += x.same;
  // Cut before index i: pairs [i, n) are called "same".
  std::size_t diff_below = 0, same_below = 0;
  std::size_t best_right = same_total;  // i = 0: everything "same"
  float best = r[0].score - 1e-3f;
  for (std::size_t i = 1; i <= n; ++i) {
    (r[i - 1].same ? same_below : diff_below) += 1;
    if (i < n && r[i].score == r[i - 1].score) continue;
    const std::size_t right = diff_below + (same_total - same_below);
    if (right > best_right) {
      best_right = right;
      best = i < n ? (r[i - 1].score + r[i].score) / 2 : r[n - 1].score + 1e-3f;
    }
  }
  return best;
}

std::vector<RocPoint> roc_curve(const std::vector<float>& scores, const std::vector<bool>& same) {
  auto r = ranked(scores, same);
  std::reverse(r.begin(), r.end());
  std::size_t pos = 0, neg = 0;
  for (const auto& x : r) (x.same ? pos : neg) += 1;
  std::vector<RocPoint> curve{{0, 0, r.empty() ? 0.0f : r.front().score + 1e-3f}};
  std::size_t tp = 0, fp = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    (r[i].same ? tp : fp) += 1;
    if (i + 1 < r.size() && r[i + 1].score == r[i].score) continue;
    curve.push_back(
        {neg ? double(fp) / double(neg) : 0, pos ? double(tp) / double(pos) : 0, r[i].score});
  }
  return curve;
}

double roc_auc(const std::vector<float>& scores, const std::vector<bool>& same) {
  const auto r = ranked(scores, same);
  double pos = 0, neg = 0, rank_sum = 0;
  for (std::size_t i = 0; i < r.size();) {
    std::size_t j = i;
    while (j < r.size() && r[j].score == r[i].score) ++j;
    const double mean_rank = (double(i + 1) + double(j)) / 2;  // ranks i+1..j share the mean
    for (std::size_t t = i; t < j; ++t) {
      if (r[t].same) {
        rank_sum += mean_rank;
        ++pos;
      } else {
        ++neg;
      }
    }
    i = j;
  }
  if (pos == 0 || neg == 0) throw InputError("ROC AUC needs both same and different pairs");
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

double tar_at_far(const std::vector<float>& scores, const std::vector<bool>& same, double far,
                  float* used) {
  double best = 0;
  float threshold = 0;
  bool found = false;
  for (const auto& p : roc_curve(scores, same)) {
    if (p.far <= far + 1e-12 && (!found || p.tar > best)) {
      best = p.tar;
      threshold = p.threshold;
      found = true;
    }
  }
  if (used) *used = threshold;
  return best;
}

VerificationResult verify_folds(const PairsFile& file, const std::vector<float>& scores) {
  check_scores(file, scores);
  VerificationResult result;
  result.view2 = true;
  result.pairs = file.pairs.size();
  for (float s : scores) result.missing_pairs += s <= kMissingScore;
  std::vector<float> s;
  std::vector<bool> same;
  for (int fold = 0; fold < file.folds; ++fold) {
    subset(file, scores, fold, false, s, same);
    const float t = best_threshold(s, same);
    subset(file, scores, fold, true, s, same);
    result.fold_threshold.push_back(t);
    result.fold_accuracy.push_back(accuracy_at(s, same, t));
  }
  const double n = double(result.fold_accuracy.size());
  result.accuracy =
      std::accumulate(result.fold_accuracy.begin(), result.fold_accuracy.end(), 0.0) / n;
  double var = 0;
  for (double a : result.fold_accuracy) var += (a - result.accuracy) * (a - result.accuracy);
  result.accuracy_std = n > 1 ? std::sqrt(var / (n - 1)) : 0;
  const auto all_same = same_of(file);
  result.threshold = best_threshold(scores, all_same);
  result.auc = roc_auc(scores, all_same);
  result.tar_at_far_1e3 = tar_at_far(scores, all_same, 1e-3, &result.tar_threshold);
  return result;
}

VerificationResult verify_train_test(const PairsFile& train, const std::vector<float>& train_scores,
                                     const PairsFile& test, const std::vector<float>& test_scores) {
  check_scores(train, train_scores);
  check_scores(test, test_scores);
  VerificationResult result;
  result.pairs = test.pairs.size();
  for (float s : test_scores) result.missing_pairs += s <= kMissingScore;
  const auto train_same = same_of(train), test_same = same_of(test);
  result.threshold = best_threshold(train_scores, train_same);
  result.train_accuracy = accuracy_at(train_scores, train_same, result.threshold);
  result.accuracy = accuracy_at(test_scores, test_same, result.threshold);
  result.auc = roc_auc(test_scores, test_same);
  result.tar_at_far_1e3 = tar_at_far(test_scores, test_same, 1e-3, &result.tar_threshold);
  return result;
}

nlohmann::json to_json(const VerificationResult& r) {
  nlohmann::json j = {{"protocol", r.view2 ? "view2-10-fold" : "view1-train-test"},
                      {"pairs", r.pairs},
                      {"missing_pairs", r.missing_pairs},
                      {"accuracy", r.accuracy},
                      {"threshold_cosine", r.threshold},
                      {"roc_auc", r.auc},
                      {"tar_at_far_1e-3", r.tar_at_far_1e3},
                      {"tar_threshold_cosine", r.tar_threshold}};
  if (r.view2) {
    j["accuracy_std"] = r.accuracy_std;
    j["fold_accuracy"] = r.fold_accuracy;
    j["fold_threshold"] = r.fold_threshold;
  } else {
    j["train_accuracy"] = r.train_accuracy;
  }
  return j;
}

}  // namespace clipface::eval
