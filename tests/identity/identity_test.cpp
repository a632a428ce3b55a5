// Track identities on scripted decisions and embeddings: labels withheld until faces agree,
// ties refused, no flicker on a stray face, switches on sustained strong evidence; identities
// kept across a short absence by re-identification; strangers numbered once per person.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "clipface/errors.hpp"
#include "clipface/track_identity.hpp"

namespace clipface {
namespace {

constexpr float kThreshold = 0.35f;  // dlib's

Decision known(const std::string& person, float distance) {
  Decision d;
  d.label = person;
  d.score = cosine_from_l2(distance);
  d.votes = d.voters = 3;
  return d;
}

// The weight of a face of this side, frontal unless said otherwise.
float face(float side, float frontal = 1.0f) {
  return face_evidence(side, frontal, {});
}

Decision stranger(float nearest_distance) {
  Decision d;  // Unknown, nobody within the threshold
  d.score = cosine_from_l2(nearest_distance);
  return d;
}

TEST(LabelVote, PendingUntilEnoughFacesAgree) {
  LabelVote vote(kThreshold, {});
  EXPECT_EQ(vote.label(), kPending);
  EXPECT_FALSE(vote.add(known("ada", 0.25f), face(100)));
  EXPECT_FALSE(vote.add(known("ada", 0.25f), face(100)));
  EXPECT_EQ(vote.label(), kPending);
  EXPECT_EQ(vote.score(), 0);
  EXPECT_TRUE(vote.add(known("ada", 0.25f), face(100)));
  EXPECT_EQ(vote.label(), "ada");
  EXPECT_NEAR(vote.score(), cosine_from_l2(0.25f), 1e-5);
  EXPECT_EQ(vote.faces(), 3);
}

TEST(LabelVote, ATieIsRefused) {
  LabelVote vote(kThreshold, {});
  for (int i = 0; i < 8; ++i) {
    vote.add(known(i % 2 ? "ada" : "bob", 0.25f), face(100));
    EXPECT_EQ(vote.label(), kPending) << "as much evidence for two people, after " << i + 1;
  }
  // A tied vote among the neighbours is no evidence at all.
  Decision tie;
  tie.voters = 4;
  tie.score = cosine_from_l2(0.3f);
  EXPECT_EQ(vote.weight(tie, face(100)), 0);
}

TEST(LabelVote, OneStrayFaceDoesNotFlipADecidedLabel) {
  LabelVote vote(kThreshold, {});
  for (int i = 0; i < 5; ++i) vote.add(known("ada", 0.28f), face(80));
  ASSERT_EQ(vote.label(), "ada");
  // A blurred frame that happens to look like bob, strongly: still ada.
  EXPECT_FALSE(vote.add(known("bob", 0.10f), face(120)));
  EXPECT_FALSE(vote.add(stranger(0.9f), face(120)));
  EXPECT_EQ(vote.label(), "ada");
}

TEST(LabelVote, SustainedStrongerEvidenceSwitchesTheLabel) {
  LabelVote vote(kThreshold, {});
  for (int i = 0; i < 3; ++i) vote.add(known("ada", 0.30f), face(60));  // weak: small, marginal
  ASSERT_EQ(vote.label(), "ada");
  int switched_after = -1;
  for (int i = 1; i <= 10 && switched_after < 0; ++i) {
    if (vote.add(known("bob", 0.20f), face(120))) switched_after = i;
  }
  EXPECT_EQ(vote.label(), "bob");
  EXPECT_GE(switched_after, 3) << "never on fewer faces than switch_evidence";
  EXPECT_EQ(vote.faces_for("bob"), switched_after);
}

TEST(LabelVote, BigCloseFacesWeighMoreThanSmallMarginalOnes) {
  LabelVote vote(kThreshold, {});
  EXPECT_GT(vote.weight(known("ada", 0.15f), face(120)),
            vote.weight(known("ada", 0.33f), face(120)));
  EXPECT_GT(vote.weight(known("ada", 0.25f), face(120)),
            vote.weight(known("ada", 0.25f), face(30)));
  EXPECT_GT(vote.weight(stranger(0.9f), face(100)), vote.weight(stranger(0.37f), face(100)));
  EXPECT_GT(vote.weight(known("ada", 0.349f), face(100)), 0)
      << "a face at the threshold still counts";
  // Ten marginal small faces for ada do not outweigh three big clear ones for bob.
  LabelVote mixed(kThreshold, {});
  for (int i = 0; i < 3; ++i) mixed.add(known("bob", 0.15f), face(120));
  for (int i = 0; i < 5; ++i) mixed.add(known("ada", 0.34f), face(30));
  EXPECT_EQ(mixed.label(), "bob");
}

TEST(LabelVote, FacesTurnedAwayOrHalfHiddenDoNotDecideALabel) {
  LabelVote vote(kThreshold, {});
  // Half behind a pillar: the landmarks say profile, the embedding matches nobody. Four such
  // faces (what a new track gets embedded in its first frames) weigh less than one good face.
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(vote.add(stranger(0.45f), face(75, 0.0f)));
  EXPECT_EQ(vote.label(), kPending) << "too little weight";
  EXPECT_LT(
      4 * vote.weight(stranger(0.45f), face(75, 0.0f)),
      vote.weight(stranger(0.45f), face(75, 1.0f)) + vote.weight(known("ada", 0.25f), face(75)));
  // Then the whole face: named within a few faces, despite the earlier Unknown votes.
  int named_after = 0;
  while (vote.label() == kPending && named_after < 10) {
    vote.add(known("ada", 0.25f), face(75, 0.9f));
    ++named_after;
  }
  EXPECT_EQ(vote.label(), "ada");
  EXPECT_LE(named_after, 4);
}

TEST(LabelVote, AStrangerLabelGivesWayToAClearNameMoreEasilyThanANameDoes) {
  IdentityOptions options;
  LabelVote vote(kThreshold, options);
  for (int i = 0; i < 3; ++i) vote.add(stranger(0.45f), face(100));
  ASSERT_EQ(vote.label(), kUnknown);
  int switched_after = 0;
  while (vote.label() == kUnknown && switched_after < 20) {
    vote.add(known("ada", 0.25f), face(100));
    ++switched_after;
  }
  EXPECT_EQ(vote.label(), "ada");
  EXPECT_EQ(switched_after, options.min_evidence) << "as soon as three faces say ada";
  // Back to a stranger takes much more: a name holds against the same evidence.
  for (int i = 0; i < 4; ++i) vote.add(stranger(0.45f), face(100));
  EXPECT_EQ(vote.label(), "ada");
}

TEST(LabelVote, StrangersAreDecidedUnknown) {
  LabelVote vote(kThreshold, {});
  for (int i = 0; i < 3; ++i) vote.add(stranger(0.6f), face(100));
  EXPECT_EQ(vote.label(), kUnknown);
  EXPECT_NEAR(vote.score(), cosine_from_l2(0.6f), 1e-5);
  EXPECT_THROW(LabelVote(0, {}), InputError);
}

// Random unit vectors and noisy copies of them.
std::vector<float> random_unit(std::mt19937& rng, int dim = 128) {
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(dim);
  float norm = 0;
  for (float& x : v) {
    x = n(rng);
    norm += x * x;
  }
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

std::vector<float> near(const std::vector<float>& base, float noise, std::mt19937& rng) {
  auto v = random_unit(rng, static_cast<int>(base.size()));
  float norm = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = base[i] + noise * v[i];
    norm += v[i] * v[i];
  }
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

TEST(IdentityLinker, APersonWhoComesBackWithinTheWindowKeepsTheirIdentity) {
  std::mt19937 rng(3);
  const auto ada = random_unit(rng), bob = random_unit(rng);
  IdentityLinker linker(kThreshold, /*link_seconds=*/5);
  const auto first = linker.assign(1, near(ada, 0.1f, rng), 0.0);
  EXPECT_EQ(first.identity, 1);
  EXPECT_FALSE(first.linked);
  EXPECT_EQ(linker.assign(2, near(bob, 0.1f, rng), 0.0).identity, 2);
  linker.seen(1, 2.0);
  linker.unseen(1);  // ada leaves at 2 s; her tracker track is removed later
  // A new tracker track at 5 s with ada's face: ada's identity again.
  const auto back = linker.assign(3, near(ada, 0.1f, rng), 5.0);
  EXPECT_EQ(back.identity, 1);
  EXPECT_TRUE(back.linked);
  EXPECT_GT(back.cosine, cosine_from_l2(kThreshold));
  EXPECT_EQ(linker.identity_of(3), 1);
  EXPECT_FALSE(linker.identity_of(1)) << "the old track let go";
  // Bob is on screen: a lookalike track cannot take his identity.
  EXPECT_EQ(linker.assign(4, near(bob, 0.1f, rng), 5.0).identity, 3);
}

TEST(IdentityLinker, TooLateOrTooDifferentMeansANewIdentity) {
  std::mt19937 rng(4);
  const auto ada = random_unit(rng);
  IdentityLinker linker(kThreshold, 5);
  linker.assign(1, ada, 0.0);
  linker.unseen(1);
  EXPECT_EQ(linker.assign(2, random_unit(rng), 1.0).identity, 2) << "another face";
  EXPECT_EQ(linker.assign(3, near(ada, 0.1f, rng), 6.5).identity, 3) << "gone 6.5 s > 5 s";
  EXPECT_EQ(linker.expire(6.5), std::vector<std::int64_t>{1});
  EXPECT_TRUE(linker.expire(6.5).empty()) << "ended once";
  EXPECT_EQ(linker.end_all(), (std::vector<std::int64_t>{2, 3}));
}

TEST(IdentityLinker, AnAmbiguousMatchStartsANewIdentity) {
  std::mt19937 rng(5);
  const auto twin = random_unit(rng);
  IdentityLinker linker(kThreshold, 5);
  linker.assign(1, twin, 0.0);
  linker.assign(2, twin, 0.0);  // two identities with the same face
  linker.unseen(1);
  linker.unseen(2);
  const auto third = linker.assign(3, twin, 1.0);
  EXPECT_FALSE(third.linked);
  EXPECT_EQ(third.identity, 3);
}

TEST(StrangerRegistry, TheSameStrangerGetsTheSameNumberAnotherGetsTheNext) {
  std::mt19937 rng(6);
  const auto carol = random_unit(rng), dave = random_unit(rng);
  StrangerRegistry registry(kThreshold);
  const std::string c = registry.name({near(carol, 0.1f, rng)});
  EXPECT_EQ(c, "unknown-1");
  EXPECT_EQ(registry.name({near(dave, 0.1f, rng)}), "unknown-2");
  // Carol on screen: a second face like hers at the same time is someone else.
  EXPECT_EQ(registry.name({near(carol, 0.1f, rng)}), "unknown-3");
  registry.release(c);  // carol left; she comes back later
  EXPECT_EQ(registry.name({near(carol, 0.1f, rng)}), "unknown-1");
  EXPECT_EQ(registry.count(), 3);
}

}  // namespace
}  // namespace clipface
