#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"

namespace clipface {
namespace {

Neighbor near(const std::string& person, float cosine) {
  return Neighbor{-1, person, cosine, l2_from_cosine(cosine)};
}

TEST(Distance, CosineAndL2Convert) {
  EXPECT_FLOAT_EQ(l2_from_cosine(0.5f), 1.0f);
  EXPECT_FLOAT_EQ(l2_from_cosine(1.0f), 0.0f);
  EXPECT_NEAR(l2_from_cosine(-1.0f), 2.0f, 1e-6);
  EXPECT_FLOAT_EQ(l2_from_cosine(1.0001f), 0.0f);  // rounding above 1 clamps, no NaN
  for (float c : {-0.3f, 0.1f, 0.5f, 0.88f, 0.99f}) {
    EXPECT_NEAR(cosine_from_l2(l2_from_cosine(c)), c, 1e-5);
  }
}

TEST(KnnVote, MajorityAmongFirstK1WithinThreshold) {
  const KnnVote rule{3, 6, 1.0f};
  const std::vector<Neighbor> n = {near("bob", 0.9f),    near("alice", 0.85f),
                                   near("bob", 0.8f),    near("alice", 0.79f),
                                   near("alice", 0.78f), near("alice", 0.77f)};
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, "bob");  // alice would win among k2, but k1 decides first
  EXPECT_TRUE(d.known());
  EXPECT_FALSE(d.widened);
  EXPECT_EQ(d.votes, 2);
  EXPECT_EQ(d.voters, 3);
  EXPECT_FLOAT_EQ(d.score, 0.9f);  // the winner's nearest vote
  EXPECT_FLOAT_EQ(d.mean_cosine, (0.9f + 0.8f) / 2);
  EXPECT_EQ(d.nearest, "bob");
}

TEST(KnnVote, NeighboursBeyondThresholdDoNotVoteInK1Round) {
  // Two of the first three are far: the one close neighbour decides alone.
  const KnnVote rule{3, 5, 0.6f};  // cosine >= 0.82
  const std::vector<Neighbor> n = {near("carol", 0.95f), near("dave", 0.5f), near("dave", 0.45f)};
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, "carol");
  EXPECT_EQ(d.votes, 1);
  EXPECT_EQ(d.voters, 1);
  EXPECT_FALSE(d.widened);
}

TEST(KnnVote, TieInK1IsBrokenByWideningToK2) {
  const KnnVote rule{2, 5, 1.0f};
  const std::vector<Neighbor> n = {
      near("alice", 0.9f), near("bob", 0.89f), near("bob", 0.8f),
      near("alice", 0.7f), near("bob", 0.6f),  near("alice", 0.95f)};  // 6th: beyond k2, ignored
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, "bob");
  EXPECT_TRUE(d.widened);
  EXPECT_EQ(d.votes, 3);
  EXPECT_EQ(d.voters, 5);
  EXPECT_FLOAT_EQ(d.score, 0.89f);
  EXPECT_EQ(d.nearest, "alice");
}

TEST(KnnVote, SingleVoteInK1IsAStrictMajority) {
  const KnnVote rule{1, 3, 1.0f};
  const std::vector<Neighbor> n = {near("erin", 0.7f), near("frank", 0.69f), near("frank", 0.68f)};
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, "erin");  // frank would win among k2, but k1 = 1 already decided
  EXPECT_FALSE(d.widened);
}

TEST(KnnVote, TieAfterWideningIsUnknown) {
  const KnnVote rule{2, 4, 1.0f};
  const std::vector<Neighbor> n = {near("alice", 0.9f), near("bob", 0.8f), near("alice", 0.7f),
                                   near("bob", 0.6f)};
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, kUnknown);
  EXPECT_FALSE(d.known());
  EXPECT_TRUE(d.widened);
  EXPECT_EQ(d.votes, 0);
  EXPECT_FLOAT_EQ(d.score, 0.9f);  // Unknown reports how close the nearest was
  EXPECT_EQ(d.nearest, "alice");
}

TEST(KnnVote, NothingWithinThresholdIsUnknown) {
  const KnnVote rule{3, 5, 0.5f};  // cosine >= 0.875
  const std::vector<Neighbor> n = {near("alice", 0.8f), near("bob", 0.7f), near("carol", 0.6f)};
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, kUnknown);
  EXPECT_EQ(d.voters, 0);
  EXPECT_TRUE(d.widened);
  EXPECT_FLOAT_EQ(d.score, 0.8f);
}

TEST(KnnVote, OneClassAllBeyondThresholdIsUnknown) {
  const KnnVote rule{3, 5, 1.0f};
  std::vector<Neighbor> n;
  for (float c : {0.45f, 0.4f, 0.35f, 0.3f, 0.2f}) n.push_back(near("alice", c));
  const Decision d = decide(rule, n);
  EXPECT_EQ(d.label, kUnknown);
  EXPECT_EQ(d.nearest, "alice");
  // The same list with a more permissive threshold (cosine >= 0.28) names her.
  const Decision permissive = decide(KnnVote{3, 5, 1.2f}, n);
  EXPECT_EQ(permissive.label, "alice");
  EXPECT_EQ(permissive.votes, 3);
}

TEST(KnnVote, ThresholdIsInclusive) {
  const Neighbor exact{-1, "alice", 0.5f, 1.0f};
  EXPECT_EQ(decide(KnnVote{1, 1, 1.0f}, std::vector<Neighbor>{exact}).label, "alice");
  EXPECT_EQ(decide(KnnVote{1, 1, 0.999f}, std::vector<Neighbor>{exact}).label, kUnknown);
}

TEST(KnnVote, EmptyAndShortListsAndNaN) {
  const Decision empty = decide(KnnVote{}, std::vector<Neighbor>{});
  EXPECT_EQ(empty.label, kUnknown);
  EXPECT_EQ(empty.score, 0.0f);
  EXPECT_EQ(empty.nearest, "");
  // Fewer neighbours than k1: vote among what there is.
  EXPECT_EQ(decide(KnnVote{5, 9, 1.0f}, std::vector<Neighbor>{near("bob", 0.9f)}).label, "bob");
  const Neighbor broken{-1, "nan", NAN, NAN};
  EXPECT_EQ(decide(KnnVote{1, 2, 2.0f}, std::vector<Neighbor>{broken}).label, kUnknown);
}

TEST(KnnVote, ValidateRejectsBadRules) {
  EXPECT_NO_THROW(validate(KnnVote{1, 1, 0.0f}));
  EXPECT_THROW(validate(KnnVote{0, 3, 1.0f}), InputError);
  EXPECT_THROW(validate(KnnVote{4, 3, 1.0f}), InputError);
  EXPECT_THROW(validate(KnnVote{1, 3, -0.1f}), InputError);
  EXPECT_THROW(validate(KnnVote{1, 3, NAN}), InputError);
}

TEST(KnnVote, DefaultsDependOnEmbeddingSpace) {
  EmbedderInfo dlib;
  dlib.name = "dlib-resnet-v1";
  EmbedderInfo clip;
  clip.name = "clip:ViT-B-32";
  const KnnVote d = default_vote(dlib);
  const KnnVote c = default_vote(clip);
  EXPECT_NO_THROW(validate(d));
  EXPECT_NO_THROW(validate(c));
  // dlib's tolerance is strict (cosine about 0.9); CLIP's space needs a looser distance.
  EXPECT_GT(cosine_from_l2(d.threshold), 0.85f);
  EXPECT_LT(d.threshold, c.threshold);
}

}  // namespace
}  // namespace clipface
