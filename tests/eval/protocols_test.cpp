// Protocol logic on synthetic embeddings with known answers: retrieval, splits, the grid (against
// clipface::decide), open-set counting.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>

#include "clipface/errors.hpp"
#include "clipface/eval/grid.hpp"
#include "clipface/eval/openset.hpp"
#include "clipface/eval/retrieval.hpp"
#include "clipface/eval/split.hpp"
#include "support/test_env.hpp"
#include "synthetic.hpp"

namespace clipface::eval {
namespace {

using clipface::testing::synthetic_faces;

Matrix rows_of(std::initializer_list<std::initializer_list<float>> rows) {
  Matrix m(rows.size(), rows.begin()->size());
  std::size_t r = 0;
  for (const auto& row : rows) {
    std::size_t c = 0;
    for (float v : row) m.at(r, c++) = v;
    ++r;
  }
  normalize_rows(m);
  return m;
}

TEST(Retrieval, WellSeparatedPeopleAreFoundAndSinglesCannotBe) {
  auto set = synthetic_faces(10, 6, 0.2f);
  const auto r = evaluate_retrieval(set.embeddings, set.labels);
  EXPECT_EQ(r.queries, 60u);
  EXPECT_DOUBLE_EQ(r.top1, 1.0);
  EXPECT_DOUBLE_EQ(r.top5, 1.0);
  // Relabel one image as a person of its own: it cannot be matched, the rest still can.
  set.labels[0] = 99;
  const auto r2 = evaluate_retrieval(set.embeddings, set.labels);
  EXPECT_EQ(r2.identities, 11u);
  EXPECT_EQ(r2.multi_identities, 10u);
  EXPECT_EQ(r2.multi_queries, 59u);
  EXPECT_NEAR(r2.top1, 59.0 / 60.0, 1e-12);
  EXPECT_DOUBLE_EQ(r2.top1_multi, 1.0);
}

TEST(Retrieval, DropsTheQueryByIndexSoDuplicatesStillCount) {
  // Rows 0 and 1 are the same vector (a duplicated photo) of different people.
  const Matrix m = rows_of({{1, 0, 0}, {1, 0, 0}, {0.9f, 0.1f, 0}, {0, 1, 0}, {0, 0.9f, 0.1f}});
  const std::vector<int> labels{0, 1, 0, 2, 2};
  const auto r = evaluate_retrieval(m, labels);
  // Row 0's nearest other image is row 1 (person 1): a miss at top-1, a hit at top-5.
  EXPECT_EQ(r.top1_label[0], 1);
  EXPECT_EQ(r.top1_label[3], 2);
  // Top-5: only row 1 (the one image of person 1) has no match among the others.
  EXPECT_DOUBLE_EQ(r.top5, 4.0 / 5.0);
  EXPECT_THROW(evaluate_retrieval(m, {0, 1}), InputError);
}

TEST(Split, IsDeterministicPerSeedAndKeepsEveryoneValidated) {
  const auto set = synthetic_faces(8, 5, 0.3f);
  const auto a = split_per_person(set.labels, 0.6, 42);
  const auto b = split_per_person(set.labels, 0.6, 42);
  const auto c = split_per_person(set.labels, 0.6, 43);
  EXPECT_EQ(a.enrolled, b.enrolled);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_NE(a.enrolled, c.enrolled);
  EXPECT_EQ(a.enrolled.size(), 8u * 3);  // round(0.6 * 5) = 3 per person
  EXPECT_EQ(a.validation.size(), 8u * 2);
  // Extreme fractions still leave one image on each side.
  const auto all = split_per_person(set.labels, 1.0, 1);
  EXPECT_EQ(all.validation.size(), 8u);
  const auto single = split_per_person({0, 1, 1}, 0.5, 1);
  EXPECT_EQ(single.enrolled.size(), 2u);  // person 0 (one image) is only enrolled
  const auto strangers = split_per_person(set.labels, 0.6, 42, 0.25);
  EXPECT_EQ(strangers.validation.size(), 6u * 2 + 2 * 5);
}

class GridTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Noisy enough that votes split and thresholds matter.
    set_ = synthetic_faces(30, 8, 1.0f, 16);
    split_ = split_per_person(set_.labels, 0.5, 5, 0.2);
    data_ = prepare_grid(set_.embeddings, set_.labels, set_.names, split_, 10);
  }
  testing::SyntheticSet set_;
  Split split_;
  GridData data_;
};

TEST_F(GridTest, FastVoteEqualsDecideAtEveryGridPoint) {
  GridSpec spec;
  std::size_t unknown = 0, known = 0;
  for (int k1 = 1; k1 <= 9; ++k1) {
    for (int k2 = k1 + 1; k2 <= 10; ++k2) {
      for (float t : spec.thresholds()) {
        const KnnVote rule{k1, k2, t};
        const auto fast = predict(data_, rule);
        const auto slow = decide_all(data_, rule);
        for (std::size_t q = 0; q < fast.size(); ++q) {
          const std::string label = fast[q] < 0 ? kUnknown : data_.people[fast[q]];
          ASSERT_EQ(label, slow[q].label)
              << "k1=" << k1 << " k2=" << k2 << " t=" << t << " q=" << q;
          (fast[q] < 0 ? unknown : known) += 1;
        }
      }
    }
  }
  // The data exercises both outcomes.
  EXPECT_GT(unknown, 1000u);
  EXPECT_GT(known, 1000u);
}

TEST_F(GridTest, GridCountsEqualCountingDirectDecisions) {
  GridSpec spec;
  const auto points = run_grid(data_, spec);
  EXPECT_EQ(points.size(), 45u * 51u);
  int checked = 0;
  for (const auto& p : points) {
    if (!(p.k1 == 2 && p.k2 == 7 && std::abs(p.threshold - 0.83f) < 1e-4) &&
        !(p.k1 == 1 && p.k2 == 2 && std::abs(p.threshold - 1.0f) < 1e-4)) {
      continue;
    }
    ++checked;
    std::vector<int> predicted;
    for (const auto& d : decide_all(data_, KnnVote{p.k1, p.k2, p.threshold})) {
      const auto it = std::find(data_.people.begin(), data_.people.end(), d.label);
      predicted.push_back(it == data_.people.end() ? -1
                                                   : static_cast<int>(it - data_.people.begin()));
    }
    const auto c = count_one_vs_rest(data_.truth, predicted, data_.enrolled_people);
    EXPECT_EQ(c.tp, p.counts.tp);
    EXPECT_EQ(c.fp, p.counts.fp);
    EXPECT_EQ(c.tn, p.counts.tn);
    EXPECT_EQ(c.fn, p.counts.fn);
    // Each query adds exactly C (enrolled people) to the four counts, whatever happens.
    EXPECT_EQ(c.tp + c.fp + c.tn + c.fn,
              static_cast<std::int64_t>(data_.queries) * data_.enrolled_people);
  }
  EXPECT_EQ(checked, 2);
  const auto& best = best_point(points);
  EXPECT_GT(best.counts.f1(), 0.3);
}

TEST(GridCounting, FollowsTheDocumentedRules) {
  // 3 enrolled people; truth -1 = never enrolled.
  const std::vector<int> truth{0, 0, 1, -1, -1, 2};
  const std::vector<int> predicted{0, 1, -1, -1, 2, 2};
  const auto c = count_one_vs_rest(truth, predicted, 3);
  EXPECT_EQ(c.tp, 2);  // q0, q5
  EXPECT_EQ(c.fp, 2);  // q1 (named 1), q4 (stranger named 2)
  EXPECT_EQ(c.fn, 2);  // q1 (0 missed), q2 (1 called Unknown)
  // TN: q0 2, q1 1, q2 2, q3 3 (correct rejection), q4 2, q5 2.
  EXPECT_EQ(c.tn, 12);
  EXPECT_DOUBLE_EQ(c.precision(), 0.5);
  EXPECT_DOUBLE_EQ(c.recall(), 0.5);
  EXPECT_DOUBLE_EQ(c.f1(), 0.5);
}

TEST(GridSpeed, WholeGridOverFiveThousandQueriesTakesSeconds) {
  const auto set = synthetic_faces(1000, 10, 0.8f, 64);
  const auto split = split_per_person(set.labels, 0.5, 1);
  const auto data = prepare_grid(set.embeddings, set.labels, set.names, split, 10);
  ASSERT_EQ(data.queries, 5000u);
  const auto start = std::chrono::steady_clock::now();
  const auto points = run_grid(data, GridSpec{});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(points.size(), 2295u);
  EXPECT_LT(seconds, 5.0);
}

TEST(GridCsv, HasTheDocumentedColumnsAndTheWarning) {
  clipface::testing::TempDir tmp;
  const auto set = synthetic_faces(5, 4, 0.3f);
  const auto data =
      prepare_grid(set.embeddings, set.labels, set.names, split_per_person(set.labels, 0.5, 0), 10);
  const auto points = run_grid(data, GridSpec{});
  write_grid_csv(tmp / "grid.csv", points, "RANDOM WEIGHTS");
  std::ifstream in(tmp / "grid.csv");
  std::string first, header, row;
  std::getline(in, first);
  std::getline(in, header);
  std::getline(in, row);
  EXPECT_EQ(first, "# RANDOM WEIGHTS");
  EXPECT_EQ(header, "k1,k2,threshold,precision,recall,f1,tp,fp,tn,fn");
  EXPECT_EQ(row.rfind("1,2,0.50,", 0), 0u) << row;
  EXPECT_THROW(write_grid_csv(tmp / "no/such/dir/grid.csv", points), InputError);
}

TEST(OpenSet, CountsGenuineAndImpostorProbesAsDocumented) {
  const std::vector<Prediction> predictions{{"a", 0.9f},  {"b", 0.95f}, {"a", 0.5f},
                                            {"a", 0.85f}, {"b", 0.3f},  {kUnknown, 0.f}};
  const std::vector<std::string> truth{"a", "a", "b", "", "", ""};
  const auto p = evaluate_open_set(predictions, truth, 0.8f);
  EXPECT_EQ(p.genuine, 3u);
  EXPECT_EQ(p.impostor, 3u);
  EXPECT_EQ(p.genuine_correct, 1u);
  EXPECT_EQ(p.genuine_misidentified, 1u);
  EXPECT_EQ(p.genuine_rejected, 1u);
  EXPECT_EQ(p.impostor_accepted, 1u);
  EXPECT_DOUBLE_EQ(p.accuracy, 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(p.fpr, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(p.fnr, 2.0 / 3.0);  // FNIR: the misnamed probe is a miss too
  EXPECT_DOUBLE_EQ(p.misidentification, 1.0 / 3.0);
  const auto curve = open_set_curve(predictions, truth);
  ASSERT_EQ(curve.size(), 101u);
  EXPECT_DOUBLE_EQ(curve.front().fpr, 2.0 / 3.0);  // threshold 0: every named impostor accepted
  EXPECT_DOUBLE_EQ(curve.back().fpr, 0.0);
  EXPECT_DOUBLE_EQ(curve.back().fnr, 1.0);
}

TEST(OpenSet, SplitAndKnnClassifierRecogniseEnrolledPeople) {
  const auto set = synthetic_faces(10, 5, 0.2f);
  const auto split = split_open_set(set.labels, 0.5, 1, 3);
  EXPECT_EQ(split.known_people.size(), 5u);
  EXPECT_EQ(split.enrolled.size(), 5u);
  EXPECT_EQ(split.genuine.size(), 20u);
  EXPECT_EQ(split.impostor.size(), 25u);
  EXPECT_EQ(split.enrolled, split_open_set(set.labels, 0.5, 1, 3).enrolled);
  std::vector<std::string> names;
  Matrix enrolled(split.enrolled.size(), set.embeddings.cols);
  for (std::size_t i = 0; i < split.enrolled.size(); ++i) {
    names.push_back(set.names[set.labels[split.enrolled[i]]]);
    std::copy(set.embeddings.row(split.enrolled[i]).begin(),
              set.embeddings.row(split.enrolled[i]).end(), enrolled.row(i).begin());
  }
  KnnClassifier classifier(enrolled, names, KnnVote{1, 2, 2.0f});
  Matrix probes(split.genuine.size(), set.embeddings.cols);
  for (std::size_t i = 0; i < split.genuine.size(); ++i) {
    std::copy(set.embeddings.row(split.genuine[i]).begin(),
              set.embeddings.row(split.genuine[i]).end(), probes.row(i).begin());
  }
  const auto predictions = classifier.predict(probes);
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    EXPECT_EQ(predictions[i].label, set.names[set.labels[split.genuine[i]]]);
    EXPECT_GT(predictions[i].confidence, 0.5f);
    EXPECT_LE(predictions[i].confidence, 1.0f);
  }
  EXPECT_THROW(split_open_set(set.labels, 0.5, 5, 3), InputError);  // nobody has 6 images
}

TEST(OpenSet, FractionSplitTrainsOnMostImagesAndKeepsUnknownPeopleApart) {
  // People with 10, 5, 2 and 1 images (ids 0-3), then six more with 4 each.
  std::vector<int> labels;
  for (int person : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
    const int n = person == 0 ? 10 : person == 1 ? 5 : person == 2 ? 2 : person == 3 ? 1 : 4;
    labels.insert(labels.end(), static_cast<std::size_t>(n), person);
  }
  const auto split = split_open_set_fraction(labels, 0.5, 0.8, 11);
  EXPECT_EQ(split.known_people.size(), 5u);  // half of the 9 people with 2+ images, rounded
  EXPECT_EQ(split.enrolled.size() + split.genuine.size() + split.impostor.size(), labels.size());
  std::map<int, std::size_t> enrolled, genuine;
  for (std::size_t r : split.enrolled) ++enrolled[labels[r]];
  for (std::size_t r : split.genuine) ++genuine[labels[r]];
  for (int person : split.known_people) {
    const std::size_t n = enrolled[person] + genuine[person];
    // round(0.8 n), at least one to train on and one probe: 10 -> 8/2, 5 -> 4/1, 4 -> 3/1, 2 -> 1/1
    EXPECT_EQ(enrolled[person], std::max<std::size_t>(1, std::min(n - 1, (8 * n + 5) / 10)));
    EXPECT_GE(genuine[person], 1u);
  }
  for (std::size_t r : split.impostor) {
    EXPECT_FALSE(
        std::binary_search(split.known_people.begin(), split.known_people.end(), labels[r]));
  }
  EXPECT_FALSE(std::binary_search(split.known_people.begin(), split.known_people.end(), 3));
  EXPECT_EQ(split.enrolled, split_open_set_fraction(labels, 0.5, 0.8, 11).enrolled);
  EXPECT_THROW(split_open_set_fraction(labels, 0.5, 1.0, 11), InputError);
  EXPECT_THROW(split_open_set_fraction(labels, 0.5, 0.0, 11), InputError);
  EXPECT_THROW(split_open_set_fraction({0, 1, 2}, 0.5, 0.8, 11), InputError);  // singles only
}

}  // namespace
}  // namespace clipface::eval
