// Density clustering with core faces: groups found, noise left alone, no chaining through a
// bridge of faces (where plain DBSCAN merges two people), incremental runs that keep what exists,
// and the gallery's clusters: stable numbers, proposals, labelled faces never moved.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "clipface/cluster.hpp"
#include "clipface/errors.hpp"
#include "gallery/synthetic.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
using testing::enrollment;
using testing::normalized;
using testing::random_unit;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 32;

// A face at cosine distance `spread` from `centre`.
std::vector<float> near(const std::vector<float>& centre, float spread, std::mt19937& rng) {
  return testing::photo_at(centre, 1 - spread, rng);
}

Matrix rows(const std::vector<std::vector<float>>& v) {
  return testing::as_matrix(v);
}

std::vector<float> mix(const std::vector<float>& a, const std::vector<float>& b, float t) {
  std::vector<float> v(a.size());
  for (std::size_t d = 0; d < v.size(); ++d) v[d] = (1 - t) * a[d] + t * b[d];
  return normalized(v);
}

TEST(DensityCluster, FindsGroupsAndLeavesNoiseAlone) {
  std::mt19937 rng(1);
  std::vector<std::vector<float>> faces;
  std::vector<int> truth;
  for (int p = 0; p < 3; ++p) {
    const auto centre = random_unit(rng, kDim);
    for (int i = 0; i < 5; ++i) faces.push_back(near(centre, 0.02f, rng)), truth.push_back(p);
  }
  for (int i = 0; i < 6; ++i) faces.push_back(random_unit(rng, kDim)), truth.push_back(-1);
  ClusterOptions o;
  o.radius = 0.15f;
  const Clustering c = density_cluster(rows(faces), o);
  EXPECT_EQ(c.clusters, 3);
  std::map<int, std::set<int>> found;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    if (truth[i] < 0) {
      EXPECT_EQ(c.label[i], -1) << "stranger " << i << " put in a cluster";
    } else {
      found[truth[i]].insert(c.label[i]);
      EXPECT_TRUE(c.core[i]);
    }
  }
  for (const auto& [person, labels] : found) {
    EXPECT_EQ(labels.size(), 1u) << "person " << person << " split";
    EXPECT_NE(*labels.begin(), -1);
  }
  EXPECT_EQ(c.noise(), 6u);

  // Fewer faces than min_faces are noise, however close.
  o.min_faces = 6;
  EXPECT_EQ(density_cluster(rows(faces), o).clusters, 0);
  o.radius = 0;
  EXPECT_THROW(density_cluster(rows(faces), o), InputError);
}

TEST(DensityCluster, DoesNotChainTwoPeopleThroughABridge) {
  // Two people, and a line of faces between them each within the radius of the next (a crowd of
  // look-alikes, or photos in between): DBSCAN's "any close pair" joins everyone.
  std::mt19937 rng(2);
  const auto a = random_unit(rng, kDim), b = random_unit(rng, kDim);
  std::vector<std::vector<float>> faces;
  for (int i = 0; i < 8; ++i) faces.push_back(near(a, 0.0001f, rng));
  for (int i = 0; i < 8; ++i) faces.push_back(near(b, 0.0001f, rng));
  for (int i = 1; i < 40; ++i) {
    faces.push_back(mix(a, b, i / 40.0f));
    faces.push_back(mix(a, b, i / 40.0f));  // two at each step: every bridge face is a core
  }
  float step = 0;
  for (std::size_t i = 16; i + 2 < faces.size(); i += 2) {
    step = std::max(step, 1 - dot(faces[i], faces[i + 2]));
  }
  ClusterOptions o;
  o.radius = 2.5f * step;
  o.link_radius = 0.05f;
  const Clustering plain = dbscan(rows(faces), o.radius, o.min_faces);
  EXPECT_EQ(plain.label[0], plain.label[8]) << "the bridge should chain DBSCAN";
  const Clustering ours = density_cluster(rows(faces), o);
  EXPECT_NE(ours.label[0], -1);
  EXPECT_NE(ours.label[8], -1);
  EXPECT_NE(ours.label[0], ours.label[8]) << "clipface chained the two people";
  for (int i = 1; i < 8; ++i) {
    EXPECT_EQ(ours.label[i], ours.label[0]);
    EXPECT_EQ(ours.label[8 + i], ours.label[8]);
  }
}

TEST(DensityCluster, ExtendKeepsWhatExistsAndGrowsOrAdds) {
  std::mt19937 rng(3);
  const auto a = random_unit(rng, kDim), b = random_unit(rng, kDim);
  std::vector<std::vector<float>> faces;
  for (int i = 0; i < 4; ++i) faces.push_back(near(a, 0.02f, rng));
  ClusterOptions o;
  o.radius = 0.15f;
  const Clustering first = density_cluster(rows(faces), o);
  ASSERT_EQ(first.clusters, 1);
  // New: two more of a, four of someone new, one stranger.
  for (int i = 0; i < 2; ++i) faces.push_back(near(a, 0.02f, rng));
  for (int i = 0; i < 4; ++i) faces.push_back(near(b, 0.02f, rng));
  faces.push_back(random_unit(rng, kDim));
  std::vector<int> existing(faces.size(), -1);
  std::vector<char> core(faces.size(), 0);
  for (int i = 0; i < 4; ++i) existing[i] = first.label[i], core[i] = first.core[i];
  const Clustering next = extend_clustering(rows(faces), existing, core, o);
  EXPECT_EQ(next.clusters, 2);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(next.label[i], 0) << i;
  for (int i = 6; i < 10; ++i) EXPECT_EQ(next.label[i], 1) << i;
  EXPECT_EQ(next.label[10], -1);
  // Nothing to do: unchanged.
  const Clustering again = extend_clustering(rows(faces), next.label, next.core, o);
  EXPECT_EQ(again.label, next.label);
}

class GalleryClusters : public ::testing::Test {
 protected:
  void SetUp() override {
    g_ = std::make_unique<Gallery>(Gallery::create(tmp_ / "g", synthetic_model(kDim)));
    for (int p = 0; p < 3; ++p) centre_.push_back(random_unit(rng_, kDim));
    // ann has a name; the other two are only in unlabelled photos.
    std::vector<Enrollment> ann;
    for (int i = 0; i < 3; ++i) ann.push_back(photo("ann", 0, "ann" + std::to_string(i)));
    g_->enroll(g_->model(), ann);
    options_.clustering.radius = 0.15f;
    options_.progress = false;
  }
  Enrollment photo(const std::string& person, int who, const std::string& tag) {
    return enrollment(person, near(centre_[who], 0.02f, rng_), tag);
  }
  std::vector<std::int64_t> add(int who, int n, const std::string& tag) {
    std::vector<Enrollment> faces;
    for (int i = 0; i < n; ++i) faces.push_back(photo("", who, tag + std::to_string(i)));
    return g_->add_unlabelled(g_->model(), faces);
  }
  std::map<std::int64_t, std::int64_t> cluster_of() {
    std::map<std::int64_t, std::int64_t> out;
    for (const auto& f : g_->face_records(FaceSet::unlabelled)) out[f.id] = f.cluster;
    return out;
  }
  TempDir tmp_;
  std::mt19937 rng_{4};
  std::vector<std::vector<float>> centre_;
  std::unique_ptr<Gallery> g_;
  ClusterRunOptions options_;
};

TEST_F(GalleryClusters, IncrementalRunsKeepClustersAndProposeNames) {
  const auto bob = add(1, 4, "bob");
  const auto ann = add(0, 3, "ann-new");
  ClusterReport r = cluster_gallery(*g_, options_);
  EXPECT_EQ(r.unlabelled, 7u);
  EXPECT_EQ(r.clusters, 2u);
  EXPECT_EQ(r.proposals, 1u);
  auto clusters = g_->clusters();
  ASSERT_EQ(clusters.size(), 2u);
  const auto before = cluster_of();
  const std::int64_t bob_cluster = before.at(bob[0]);
  const std::int64_t ann_cluster = before.at(ann[0]);
  for (const auto& c : clusters) {
    if (c.id == ann_cluster) {
      EXPECT_EQ(c.proposed, "ann");
      EXPECT_GT(c.proposed_score, 0.9f);
    } else {
      EXPECT_EQ(c.proposed, "");
    }
  }

  // New faces of bob join bob's cluster; a new person makes a new one; nothing else moves.
  const auto more_bob = add(1, 2, "bob-new");
  const auto cat = add(2, 3, "cat");
  r = cluster_gallery(*g_, options_);
  EXPECT_EQ(r.examined, 5u);
  EXPECT_EQ(r.joined, 2u);
  EXPECT_EQ(r.new_clusters, 1u);
  EXPECT_EQ(r.clusters, 3u);
  const auto after = cluster_of();
  for (const auto& [face, cluster] : before) EXPECT_EQ(after.at(face), cluster) << face;
  for (auto id : more_bob) EXPECT_EQ(after.at(id), bob_cluster);
  EXPECT_NE(after.at(cat[0]), 0);

  // A full run finds the same groups and keeps their numbers.
  options_.full = true;
  r = cluster_gallery(*g_, options_);
  EXPECT_EQ(cluster_of(), after);
  EXPECT_EQ(r.new_clusters, 0u);
}

TEST_F(GalleryClusters, LabelledFacesNeverMoveAndNegativesBlockProposals) {
  const auto ann = add(0, 3, "ann-new");
  cluster_gallery(*g_, options_);
  const std::int64_t c = cluster_of().at(ann[0]);
  ASSERT_GT(c, 0);
  // Someone says one of these faces is not ann: the cluster is no longer proposed as ann.
  g_->add_negative(ann[1], "ann");
  options_.full = true;
  cluster_gallery(*g_, options_);
  for (const auto& cl : g_->clusters()) EXPECT_EQ(cl.proposed, "") << cl.id;
  // Labelled faces are never put in clusters, however close.
  const auto labelled_before = g_->faces("ann");
  EXPECT_EQ(labelled_before.size(), 3u);
  for (const auto& f : labelled_before) EXPECT_EQ(f.cluster, 0);
  EXPECT_EQ(g_->face_records(FaceSet::unlabelled).size(), 3u);
  // Naming the cluster makes its faces labelled; a full run then leaves them alone.
  g_->split(FaceGroup{"", cluster_of().at(ann[0])}, {ann[1]});  // the doubted face out first
  EXPECT_EQ(g_->name_cluster(cluster_of().at(ann[0]), "ann"), 2);
  cluster_gallery(*g_, options_);
  EXPECT_EQ(g_->faces("ann").size(), 5u);
  for (const auto& f : g_->faces("ann")) EXPECT_EQ(f.cluster, 0);
}

TEST_F(GalleryClusters, KnownStrangersAreNotClustered) {
  std::vector<Enrollment> strangers;
  for (int i = 0; i < 4; ++i) strangers.push_back(photo("", 2, "s" + std::to_string(i)));
  g_->add_unlabelled(g_->model(), strangers, /*strangers=*/true);
  const ClusterReport r = cluster_gallery(*g_, options_);
  EXPECT_EQ(r.unlabelled, 0u);
  EXPECT_EQ(r.clusters, 0u);
  for (const auto& f : g_->face_records(FaceSet::unlabelled)) {
    EXPECT_TRUE(f.stranger);
    EXPECT_EQ(f.cluster, 0);
  }
}

}  // namespace
}  // namespace clipface
