#include "clipface/eval/verification.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "clipface/errors.hpp"
#include "support/test_env.hpp"

namespace clipface::eval {
namespace {

using clipface::testing::TempDir;

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(Pairs, ReadsHeaderlessView1ByFieldCount) {
  TempDir tmp;
  write(tmp / "pairsDevTest.txt", "Abel_Pacheco\t1\t4\nAJ_Cook\t1\tMarsha_Thomason\t1\n\n");
  const auto file = read_pairs(tmp / "pairsDevTest.txt");
  EXPECT_FALSE(file.view2);
  ASSERT_EQ(file.pairs.size(), 2u);
  EXPECT_TRUE(file.pairs[0].same);
  EXPECT_EQ(file.pairs[0].name_b, "Abel_Pacheco");
  EXPECT_EQ(file.pairs[0].index_b, 4);
  EXPECT_FALSE(file.pairs[1].same);
  EXPECT_EQ(file.pairs[1].name_b, "Marsha_Thomason");
  EXPECT_EQ(lfw_image_path("/lfw", "AJ_Cook", 1),
            std::filesystem::path("/lfw/AJ_Cook/AJ_Cook_0001.jpg"));
}

TEST(Pairs, ChecksTheOfficialView1CountLine) {
  TempDir tmp;
  write(tmp / "ok.txt", "1\nA\t1\t2\nA\t1\tB\t3\n");
  EXPECT_EQ(read_pairs(tmp / "ok.txt").pairs.size(), 2u);
  write(tmp / "bad.txt", "2\nA\t1\t2\nA\t1\tB\t3\n");
  EXPECT_THROW(read_pairs(tmp / "bad.txt"), InputError);
}

TEST(Pairs, ReadsASynthesisedView2FileWithFolds) {
  TempDir tmp;
  std::string text = "10 3\n";
  for (int fold = 0; fold < 10; ++fold) {
    char line[64];
    for (int i = 0; i < 3; ++i) {
      std::snprintf(line, sizeof line, "P%d\t1\t2\n", fold);
      text += line;
    }
    for (int i = 0; i < 3; ++i) {
      std::snprintf(line, sizeof line, "P%d\t1\tQ\t%d\n", fold, i + 1);
      text += line;
    }
  }
  write(tmp / "pairs.txt", text);
  const auto file = read_pairs(tmp / "pairs.txt");
  EXPECT_TRUE(file.view2);
  EXPECT_EQ(file.folds, 10);
  EXPECT_EQ(file.per_fold, 3);
  ASSERT_EQ(file.pairs.size(), 60u);
  EXPECT_EQ(file.pairs[0].fold, 0);
  EXPECT_EQ(file.pairs[5].fold, 0);
  EXPECT_EQ(file.pairs[6].fold, 1);
  EXPECT_EQ(file.pairs[59].fold, 9);
  EXPECT_EQ(file.pairs[6].name_a, "P1");
}

TEST(Pairs, MalformedFilesNameTheFileAndLine) {
  TempDir tmp;
  write(tmp / "fields.txt", "A\t1\t2\nA\t1\tB\n");  // 3 fields fine, then "A 1 B": bad number
  try {
    read_pairs(tmp / "fields.txt");
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fields.txt:2"), std::string::npos) << e.what();
  }
  write(tmp / "five.txt", "A 1 B 2 C\n");
  EXPECT_THROW(read_pairs(tmp / "five.txt"), InputError);
  write(tmp / "short.txt", "10 300\nA\t1\t2\n");
  EXPECT_THROW(read_pairs(tmp / "short.txt"), InputError);
  write(tmp / "empty.txt", "");
  EXPECT_THROW(read_pairs(tmp / "empty.txt"), InputError);
  EXPECT_THROW(read_pairs(tmp / "missing.txt"), InputError);
}

TEST(Metrics, AucOfSeparableReversedAndTiedScores) {
  const std::vector<bool> same{true, true, true, false, false, false};
  EXPECT_DOUBLE_EQ(roc_auc({0.9f, 0.8f, 0.7f, 0.3f, 0.2f, 0.1f}, same), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.1f, 0.2f, 0.3f, 0.7f, 0.8f, 0.9f}, same), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, same), 0.5);
  // One positive (0.25) below one negative (0.3): 8 of 9 comparisons ordered right.
  EXPECT_NEAR(roc_auc({0.9f, 0.8f, 0.25f, 0.3f, 0.2f, 0.1f}, same), 8.0 / 9.0, 1e-12);
  EXPECT_THROW(roc_auc({0.1f, 0.2f}, {true, true}), InputError);
}

TEST(Metrics, AucOfIdenticalDistributionsIsAboutHalf) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> scores;
  std::vector<bool> same;
  for (int i = 0; i < 20000; ++i) {
    scores.push_back(normal(rng));
    same.push_back(i % 2 == 0);
  }
  EXPECT_NEAR(roc_auc(scores, same), 0.5, 0.02);
}

TEST(Metrics, BestThresholdSeparatesAndAccuracyCounts) {
  const std::vector<float> scores{0.9f, 0.8f, 0.6f, 0.4f, 0.3f};
  const std::vector<bool> same{true, true, false, true, false};
  const float t = best_threshold(scores, same);
  // Best cut: above 0.6 -> 4 of 5 right (0.4 same is lost), or t in (0.3,0.4] -> 4 of 5 too.
  EXPECT_DOUBLE_EQ(accuracy_at(scores, same, t), 0.8);
  EXPECT_DOUBLE_EQ(accuracy_at(scores, same, 0.7f), 0.8);
  EXPECT_DOUBLE_EQ(accuracy_at(scores, same, 0.0f), 0.6);
  EXPECT_DOUBLE_EQ(
      accuracy_at({0.9f, 0.1f}, {true, false}, best_threshold({0.9f, 0.1f}, {true, false})), 1.0);
}

TEST(Metrics, TarAtFarUsesOnlyThresholdsWithinTheFar) {
  // 1000 negatives below 0.5, one of them (0.9725) high; 100 positives at 0.5 ... 0.995.
  std::vector<float> scores;
  std::vector<bool> same;
  for (int i = 0; i < 1000; ++i) {
    scores.push_back(i / 2000.0f);
    same.push_back(false);
  }
  scores[999] = 0.9725f;
  for (int i = 0; i < 100; ++i) {
    scores.push_back(0.5f + i * 0.005f);
    same.push_back(true);
  }
  float used = 0;
  // FAR 1e-3 allows one false accept of 1000: the threshold may drop to 0.5, which admits
  // every positive.
  EXPECT_DOUBLE_EQ(tar_at_far(scores, same, 1e-3, &used), 1.0);
  EXPECT_LE(used, 0.5f);
  // FAR 0: only the positives above 0.9725 (0.975 ... 0.995).
  EXPECT_DOUBLE_EQ(tar_at_far(scores, same, 0.0), 0.05);
}

TEST(Metrics, TenFoldsChooseEachThresholdOnTheOtherNine) {
  PairsFile file;
  file.view2 = true;
  file.folds = 10;
  file.per_fold = 2;
  std::vector<float> scores;
  for (int fold = 0; fold < 10; ++fold) {
    for (int i = 0; i < 4; ++i) {
      file.pairs.push_back({"A", 1, "A", 2, i < 2, fold});
      scores.push_back(i < 2 ? 0.8f : 0.2f);
    }
  }
  scores[0] = 0.1f;  // fold 0: one same pair below every different pair
  const auto r = verify_folds(file, scores);
  ASSERT_EQ(r.fold_accuracy.size(), 10u);
  EXPECT_DOUBLE_EQ(r.fold_accuracy[0], 0.75);
  for (int f = 1; f < 10; ++f) EXPECT_DOUBLE_EQ(r.fold_accuracy[f], 1.0);
  EXPECT_NEAR(r.accuracy, 0.975, 1e-12);
  EXPECT_NEAR(r.accuracy_std, std::sqrt(0.00625), 1e-9);  // sample standard deviation
  EXPECT_GT(r.fold_threshold[3], 0.2f);
  EXPECT_LT(r.fold_threshold[3], 0.8f);
}

TEST(Metrics, TrainTestAppliesTheTrainThreshold) {
  PairsFile train, test;
  for (int i = 0; i < 4; ++i) train.pairs.push_back({"A", 1, "A", 2, i < 2, 0});
  for (int i = 0; i < 4; ++i) test.pairs.push_back({"A", 1, "A", 2, i < 2, 0});
  const auto r =
      verify_train_test(train, {0.9f, 0.8f, 0.3f, 0.2f}, test, {0.6f, 0.5f, 0.56f, kMissingScore});
  EXPECT_NEAR(r.threshold, 0.55f, 1e-6);
  EXPECT_DOUBLE_EQ(r.train_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);  // 0.5 same below, 0.56 different above
  EXPECT_EQ(r.missing_pairs, 1u);
}

}  // namespace
}  // namespace clipface::eval
