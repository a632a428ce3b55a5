// Unlabelled faces, clusters, names, merges, splits and negative examples in the gallery: what
// people label is authoritative, identify only searches labelled faces, and every refused
// operation leaves gallery.db byte for byte as it was.
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/synthetic.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::as_matrix;
using testing::enrollment;
using testing::photo_of;
using testing::random_unit;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 32;

struct World {
  std::mt19937 rng{3};
  std::vector<float> ann = random_unit(rng, kDim);
  std::vector<float> cat = random_unit(rng, kDim);  // someone nobody named yet
  std::vector<Enrollment> named(const std::string& person, const std::vector<float>& centre, int n,
                                const std::string& tag) {
    std::vector<Enrollment> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(enrollment(person, photo_of(centre, rng), tag + std::to_string(i)));
    }
    return out;
  }
};

std::string db_bytes(const Gallery& g) {
  return testing::read_text(g.dir() / kGalleryDbName);
}

template <class F>
void expect_refused(Gallery& g, F f, const std::string& needle) {
  const std::string before = db_bytes(g);
  try {
    f();
    ADD_FAILURE() << "not refused: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_EQ(db_bytes(g), before) << "a refused operation changed gallery.db (" << needle << ")";
}

class Labels : public ::testing::Test {
 protected:
  void SetUp() override {
    g_ = std::make_unique<Gallery>(Gallery::create(tmp_ / "g", synthetic_model(kDim)));
    g_->enroll(g_->model(), w_.named("ann", w_.ann, 3, "ann"));
    unlabelled_ = g_->add_unlabelled(g_->model(), w_.named("", w_.cat, 4, "cat"));
  }
  // Puts the four unlabelled faces in one new cluster; returns its id.
  std::int64_t cluster_them() {
    ClusteringUpdate u;
    u.labels_generation = g_->face_vectors(FaceSet::unlabelled).labels_generation;
    for (auto id : unlabelled_) u.members.push_back({id, -1, true});
    const auto made = g_->apply_clustering(u);
    return made.at(-1);
  }
  TempDir tmp_;
  World w_;
  std::unique_ptr<Gallery> g_;
  std::vector<std::int64_t> unlabelled_;
};

TEST_F(Labels, UnlabelledFacesAreStoredButNotSearched) {
  EXPECT_EQ(g_->size(), 7u);
  EXPECT_EQ(g_->labelled_size(), 3u);
  const auto hits = g_->search(as_matrix({photo_of(w_.cat, w_.rng)}), 5);
  ASSERT_EQ(hits[0].size(), 3u);
  for (const auto& n : hits[0]) EXPECT_EQ(n.person, "ann");
  const auto unlabelled = g_->face_vectors(FaceSet::unlabelled);
  ASSERT_EQ(unlabelled.faces.size(), 4u);
  for (const auto& f : unlabelled.faces) EXPECT_EQ(f.person, "");
  EXPECT_EQ(g_->face_vectors(FaceSet::all).faces.size(), 7u);
  EXPECT_TRUE(g_->check_integrity().ok) << g_->check_integrity().problems.at(0);
  // A person name on an unlabelled face, or none on a labelled one, is refused.
  expect_refused(
      *g_, [&] { g_->add_unlabelled(g_->model(), w_.named("x", w_.cat, 1, "bad")); },
      "cannot have a person");
}

TEST_F(Labels, NamingAClusterMakesItsFacesLabelledAndSearchable) {
  const std::int64_t c = cluster_them();
  auto clusters = g_->clusters();
  ASSERT_EQ(clusters.size(), 1u);
  EXPECT_EQ(clusters[0].faces, 4);
  EXPECT_EQ(clusters[0].core_faces, 4);
  EXPECT_EQ(g_->cluster_faces(c).size(), 4u);
  EXPECT_EQ(g_->cluster_faces(c)[0].cluster, c);

  EXPECT_EQ(g_->name_cluster(c, "cat"), 4);
  EXPECT_TRUE(g_->clusters().empty());
  EXPECT_EQ(g_->labelled_size(), 7u);
  const auto hits = g_->search(as_matrix({photo_of(w_.cat, w_.rng)}), 1);
  EXPECT_EQ(hits[0].at(0).person, "cat");
  EXPECT_TRUE(g_->check_integrity().ok);
  // The same seen by another process opening the gallery.
  const Gallery other = Gallery::open(g_->dir(), GalleryMode::read);
  EXPECT_EQ(other.search(as_matrix({photo_of(w_.cat, w_.rng)}), 1)[0].at(0).person, "cat");
}

TEST_F(Labels, UnknownClusterAndStaleClusteringAreRefused) {
  const std::int64_t c = cluster_them();
  expect_refused(
      *g_, [&] { g_->name_cluster(c + 41, "x"); }, "no cluster #" + std::to_string(c + 41));
  expect_refused(
      *g_, [&] { g_->cluster_faces(999); }, "it has 1 clusters");
  // An update computed before someone else changed the faces.
  ClusteringUpdate stale;
  stale.labels_generation = g_->face_vectors(FaceSet::unlabelled).labels_generation - 1;
  stale.members.push_back({unlabelled_[0], -1, true});
  expect_refused(
      *g_, [&] { g_->apply_clustering(stale); }, "changed while clustering");
  ClusteringUpdate labelled;
  labelled.labels_generation = g_->face_vectors(FaceSet::unlabelled).labels_generation;
  labelled.members.push_back({g_->faces("ann")[0].id, -1, true});
  expect_refused(
      *g_, [&] { g_->apply_clustering(labelled); }, "clusters hold unlabelled faces");
}

TEST_F(Labels, MergeMovesFacesAndRefusesItselfAndPeopleIntoClusters) {
  const std::int64_t c = cluster_them();
  expect_refused(
      *g_, [&] { g_->merge(FaceGroup::parse("ann"), FaceGroup::parse("ann")); }, "into itself");
  expect_refused(
      *g_,
      [&] {
        g_->merge(FaceGroup::parse("#" + std::to_string(c)), FaceGroup{"", c});
      },
      "into itself");
  expect_refused(
      *g_,
      [&] {
        g_->merge(FaceGroup::parse("ann"), FaceGroup{"", c});
      },
      "stay labelled");
  expect_refused(
      *g_, [&] { g_->merge(FaceGroup::parse("nobody"), FaceGroup::parse("ann")); },
      "no person named 'nobody'");

  g_->enroll(g_->model(), w_.named("ann2", w_.ann, 2, "ann2-"));
  g_->add_negative(unlabelled_[0], "ann2");
  EXPECT_EQ(g_->merge(FaceGroup::parse("ann2"), FaceGroup::parse("ann")), 2);
  ASSERT_EQ(g_->people().size(), 1u);
  EXPECT_EQ(g_->faces("ann").size(), 5u);
  ASSERT_EQ(g_->negatives().size(), 1u);
  EXPECT_EQ(g_->negatives()[0].person, "ann");  // "not ann2" is now "not ann"
  // Cluster into person = naming it, refused here: face 0 was said not to be ann.
  expect_refused(
      *g_,
      [&] {
        g_->merge(FaceGroup{"", c}, FaceGroup::parse("ann"));
      },
      "marked as not");
}

TEST_F(Labels, SplitMovesFacesOutAndRemembersTheyAreNotThatPerson) {
  const auto ann = g_->faces("ann");
  const std::int64_t c = g_->split(FaceGroup::parse("ann"), {ann[2].id});
  EXPECT_GT(c, 0);
  EXPECT_EQ(g_->faces("ann").size(), 2u);
  EXPECT_EQ(g_->labelled_size(), 2u);
  ASSERT_EQ(g_->cluster_faces(c).size(), 1u);
  ASSERT_EQ(g_->negatives().size(), 1u);
  EXPECT_EQ(g_->negatives()[0].face_id, ann[2].id);
  const auto hits = g_->search(as_matrix({photo_of(w_.ann, w_.rng)}), 5);
  for (const auto& n : hits[0]) EXPECT_NE(n.face_id, ann[2].id);
  // Naming the split-off face "ann" again is refused because of the negative.
  expect_refused(
      *g_, [&] { g_->name_cluster(c, "ann"); }, "marked as not being 'ann'");
  // ... but it can be given to someone else.
  EXPECT_EQ(g_->split(FaceGroup{"", c}, {ann[2].id}, "dora"), 0);
  EXPECT_EQ(g_->faces("dora").size(), 1u);
  EXPECT_TRUE(g_->check_integrity().ok);

  expect_refused(
      *g_, [&] { g_->split(FaceGroup::parse("ann"), {ann[2].id}); }, "is not in person 'ann'");
  expect_refused(
      *g_,
      [&] {
        g_->split(FaceGroup::parse("ann"), {ann[0].id, ann[1].id});
      },
      "all the faces");
  expect_refused(
      *g_, [&] { g_->split(FaceGroup::parse("ann"), {}); }, "ids of the faces");
  expect_refused(
      *g_, [&] { g_->add_negative(ann[0].id, "ann"); }, "is labelled 'ann'");
  expect_refused(
      *g_, [&] { g_->add_negative(424242, "ann"); }, "no face 424242");
  EXPECT_THROW(FaceGroup::parse("#x"), InputError);
  EXPECT_THROW(FaceGroup::parse("#0"), InputError);
  EXPECT_EQ(FaceGroup::parse("cluster:7").cluster, 7);
}

TEST_F(Labels, CalibratedVoteRuleAppliesToItsOwnModelOnly) {
  EXPECT_EQ(g_->vote_rule().threshold, default_vote(g_->model()).threshold);
  GalleryCalibration c;
  c.model = g_->model();
  c.target_far = 0.01;
  c.k1 = 1;
  c.k2 = 3;
  c.threshold = 0.42f;
  c.people = {{"ann", 0.3f, "photos unusually alike"}};
  c.report_json = "{}";
  g_->store_calibration(c);
  const KnnVote rule = g_->vote_rule();
  EXPECT_EQ(rule.k1, 1);
  EXPECT_EQ(rule.k2, 3);
  EXPECT_FLOAT_EQ(rule.threshold, 0.42f);
  EXPECT_FLOAT_EQ(rule.threshold_for("ann"), 0.3f);
  EXPECT_FLOAT_EQ(rule.threshold_for("cat"), 0.42f);
  const auto stored = g_->calibration();
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->people.at(0).reason, "photos unusually alike");
  EXPECT_FALSE(stored->created.empty());

  GalleryCalibration other = c;
  other.model.checksum = "another";
  expect_refused(
      *g_, [&] { g_->store_calibration(other); }, "calibration measured with");
}

}  // namespace
}  // namespace clipface
