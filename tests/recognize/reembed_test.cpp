// Re-embedding a real gallery with another model: dlib -> dlib with test-time flip (a different
// space that sees the same chip, so the stored crops are used as they are) and dlib -> the tiny
// CLIP fixture (another crop: the source images where they are still there, else the stored
// crop with the face found again). Names, clusters and negative examples stay; calibrations of
// the old model stop applying; the switch is refused while faces are pending or failed.
#include <gtest/gtest.h>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "clipface/reembed.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::shared_path;
using testing::TempDir;

const std::string kExamples = "data/faces/named/face_recognition_examples";
const std::string kTinyClip = "fixtures/clip/vit-tiny.safetensors";

struct Snapshot {
  std::map<std::string, std::set<std::int64_t>> people;
  std::map<std::int64_t, std::set<std::int64_t>> clusters;
  std::set<std::pair<std::int64_t, std::string>> negatives;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Gallery& g) {
  Snapshot s;
  for (const auto& p : g.people()) {
    for (const auto& f : g.faces(p.name)) s.people[p.name].insert(f.id);
  }
  for (const auto& c : g.clusters()) {
    for (const auto& f : g.cluster_faces(c.id)) s.clusters[c.id].insert(f.id);
  }
  for (const auto& n : g.negatives()) s.negatives.insert({n.face_id, n.person});
  return s;
}

class Reembed : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    CLIPFACE_REQUIRE_SHARED(kTinyClip);
    // Models through a CLIPFACE_HOME of our own (other tests of this binary point it elsewhere).
    testing::make_models_home(home_.path());
    setenv("CLIPFACE_HOME", home_.path().c_str(), 1);
    // The photos through symlinks in a folder of our own, so a test can make sources disappear.
    testing::make_people_dir(work_.path() / "people",
                             {{"barack_obama", kExamples + "/barack_obama/obama.jpg"},
                              {"barack_obama", kExamples + "/barack_obama/obama1.jpg"},
                              {"barack_obama", kExamples + "/barack_obama/obama2.jpg"},
                              {"kit_harington", kExamples + "/kit_harington/john1.jpeg"},
                              {"kit_harington", kExamples + "/kit_harington/john2.jpeg"},
                              {"joe_biden", kExamples + "/joe_biden/biden.jpg"}});
    testing::make_people_dir(work_.path() / "unlabelled",
                             {{"alex", kExamples + "/alex_lacamoire/img1.jpg"},
                              {"alex", kExamples + "/alex_lacamoire/alex_lacamoire1.jpg"},
                              {"rose", kExamples + "/rose_leslie/img2.jpg"}});
    dlib_ = std::make_unique<FacePipeline>(PipelineOptions{});
    gallery_ =
        std::make_unique<Gallery>(Gallery::create(work_.path() / "g", dlib_->embedder().info()));
    EnrollOptions o;
    o.progress = false;
    enroll_people(*gallery_, *dlib_, list_people(work_.path() / "people"), o);
    enroll_unlabelled(*gallery_, *dlib_, list_images(work_.path() / "unlabelled", true), o);
    const auto unlabelled = gallery_->face_vectors(FaceSet::unlabelled);
    ASSERT_EQ(unlabelled.faces.size(), 3u);
    ClusteringUpdate u;
    u.labels_generation = unlabelled.labels_generation;
    u.members = {{unlabelled.faces[0].face_id, -1, true}, {unlabelled.faces[1].face_id, -1, true}};
    gallery_->apply_clustering(u);
    gallery_->add_negative(unlabelled.faces[2].face_id, "joe_biden");
    GalleryCalibration c;
    c.model = gallery_->model();
    c.threshold = 0.2f;
    c.report_json = "{}";
    gallery_->store_calibration(c);
    ASSERT_FLOAT_EQ(gallery_->vote_rule().threshold, 0.2f);
  }

  testing::TempDir home_, work_;
  std::unique_ptr<FacePipeline> dlib_;
  std::unique_ptr<Gallery> gallery_;
};

TEST_F(Reembed, DlibToDlibWithFlipUsesTheStoredCropsAndKeepsEverything) {
  const Snapshot before = snapshot(*gallery_);
  const auto old_vectors = gallery_->face_vectors(FaceSet::all);
  PipelineOptions flip;
  flip.embedder_options.flip_average = true;
  const FacePipeline flipped(flip);
  ReembedOptions o;
  o.batch = 3;
  o.progress = false;
  const ReembedReport r =
      reembed_gallery(*gallery_, flipped.embedder(), "dlib", &flipped.detector(), o);
  EXPECT_EQ(r.faces, 9u);
  EXPECT_EQ(r.from_crop, 9u);
  EXPECT_EQ(r.failed, 0u);
  ASSERT_TRUE(r.switched);
  EXPECT_EQ(gallery_->model().crop_style, "dlib-chip+flip");
  EXPECT_EQ(snapshot(*gallery_), before);
  EXPECT_TRUE(gallery_->check_integrity().ok);
  // The old model's calibration no longer applies.
  EXPECT_FALSE(gallery_->calibration().has_value());
  EXPECT_FLOAT_EQ(gallery_->vote_rule().threshold, default_vote(gallery_->model()).threshold);
  // Every vector is new but close to its old self (the same chip, mirrored in as well).
  const auto new_vectors = gallery_->face_vectors(FaceSet::all);
  ASSERT_EQ(new_vectors.faces.size(), old_vectors.faces.size());
  for (std::size_t i = 0; i < new_vectors.faces.size(); ++i) {
    const float c = dot(new_vectors.vectors.row(i), old_vectors.vectors.row(i));
    EXPECT_LT(c, 0.99999f);
    EXPECT_GT(c, 0.9f);
  }
  // Search now speaks the new model.
  const Recognizer recognizer(*gallery_, flipped, gallery_->vote_rule());
  const auto id = recognizer.identify_file(shared_path(kExamples + "/barack_obama/obama3.jpg"));
  ASSERT_EQ(id.faces.size(), 1u);
  EXPECT_EQ(id.faces[0].decision.label, "barack_obama");
  EXPECT_THROW(Recognizer(*gallery_, *dlib_, default_vote(dlib_->embedder().info())), GalleryError);
}

TEST_F(Reembed, ToClipFromSourceImagesElseTheCropWithTheFaceFoundAgain) {
  const Snapshot before = snapshot(*gallery_);
  // Kit's photos are gone from where they were enrolled.
  fs::remove_all(work_.path() / "people" / "kit_harington");
  PipelineOptions clip;
  clip.embedder = "clip:" + shared_path(kTinyClip).string();
  const FacePipeline tiny(clip);
  ReembedOptions o;
  o.progress = false;
  o.batch = 4;
  const ReembedReport r =
      reembed_gallery(*gallery_, tiny.embedder(), clip.embedder, &tiny.detector(), o);
  EXPECT_EQ(r.from_crop, 0u);  // a dlib chip is not what CLIP looks at
  EXPECT_EQ(r.from_image + r.from_crop_redetected + r.failed, 9u);
  EXPECT_EQ(r.from_image, 7u);
  // YuNet finds the face again in Kit's 150-pixel dlib chips.
  EXPECT_EQ(r.from_crop_redetected, 2u);
  EXPECT_EQ(r.failed, 0u);
  ASSERT_TRUE(r.switched);
  EXPECT_EQ(gallery_->model().name, tiny.embedder().info().name);
  EXPECT_EQ(gallery_->model().dim, tiny.embedder().info().dim);
  EXPECT_EQ(snapshot(*gallery_), before);
  EXPECT_TRUE(gallery_->check_integrity().ok);
  EXPECT_EQ(gallery_->labelled_size(), 6u);
}

TEST_F(Reembed, SwitchWaitsForEveryFaceAndOneTargetAtATime) {
  PipelineOptions flip;
  flip.embedder_options.flip_average = true;
  const FacePipeline flipped(flip);
  const EmbedderInfo target = flipped.embedder().info();
  EXPECT_THROW(gallery_->begin_reembed(gallery_->model(), "dlib"), InputError);
  gallery_->begin_reembed(target, "dlib");
  const auto pending = gallery_->reembed_pending(4);
  ASSERT_EQ(pending.size(), 4u);
  std::vector<ReembedVector> some;
  for (const auto& w : pending) {
    some.push_back(
        {w.face_id, std::vector<float>(target.dim, 1.0f / std::sqrt(float(target.dim))), "test"});
  }
  gallery_->store_reembedded(target, some);
  EXPECT_EQ(gallery_->reembed_state().done, 4u);
  // Search and enrollment go on with the old model; a face enrolled now is pending too.
  EnrollOptions o;
  o.progress = false;
  EXPECT_THROW(
      enroll_people(*gallery_, flipped, {{"rose", {work_.path() / "unlabelled/rose/img2.jpg"}}}, o),
      GalleryError);
  EXPECT_EQ(gallery_->reembed_pending(100).size(), 5u);
  try {
    gallery_->switch_model(false);
    FAIL() << "switched with faces pending";
  } catch (const GalleryError& e) {
    EXPECT_NE(std::string(e.what()).find("not re-embedded yet"), std::string::npos) << e.what();
  }
  PipelineOptions clip;
  clip.embedder = "clip:" + shared_path(kTinyClip).string();
  const FacePipeline tiny(clip);
  EXPECT_THROW(gallery_->begin_reembed(tiny.embedder().info(), clip.embedder), GalleryError);
  // A face that cannot be re-embedded blocks the switch unless dropped.
  std::vector<ReembedVector> rest;
  for (const auto& w : gallery_->reembed_pending(100)) {
    rest.push_back({w.face_id, {}, "source gone"});
  }
  gallery_->store_reembedded(target, rest);
  EXPECT_THROW(gallery_->switch_model(false), GalleryError);
  gallery_->cancel_reembed();
  EXPECT_FALSE(gallery_->reembed_state().active);
  EXPECT_EQ(gallery_->model().crop_style, "dlib-chip");
  EXPECT_TRUE(gallery_->check_integrity().ok);
}

}  // namespace
}  // namespace clipface
