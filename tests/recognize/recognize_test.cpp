// End to end on real photos with the dlib embedder: enroll named people, identify them in other
// photos and in group photos, strangers come back Unknown, removal really forgets.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
using testing::shared_path;
namespace fs = std::filesystem;

const std::string kExamples = "data/faces/named/face_recognition_examples/";

PipelineOptions dlib_pipeline() {
  PipelineOptions o;
  o.detector.model = shared_path("models/yunet/face_detection_yunet_2022mar.onnx").string();
  o.embedder = "dlib";
  return o;
}

class RecognizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    // dlib models are found through CLIPFACE_HOME, as in a user's set-up.
    setenv("CLIPFACE_HOME", home_.path().c_str(), 1);
    testing::make_models_home(home_.path());
    testing::make_people_dir(people_.path(),
                             {{"barack_obama", kExamples + "barack_obama/obama.jpg"},
                              {"barack_obama", kExamples + "barack_obama/obama1.jpg"},
                              {"barack_obama", kExamples + "barack_obama/obama2.jpg"},
                              {"joe_biden", kExamples + "joe_biden/biden.jpg"},
                              {"kit_harington", kExamples + "kit_harington/john1.jpeg"},
                              {"kit_harington", kExamples + "kit_harington/john2.jpeg"},
                              {"rose_leslie", kExamples + "rose_leslie/img1.jpg"},
                              {"alex_lacamoire", kExamples + "alex_lacamoire/alex_lacamoire1.jpg"},
                              {"alex_lacamoire", kExamples + "alex_lacamoire/img1.jpg"}});
    pipeline_ = std::make_unique<FacePipeline>(dlib_pipeline());
  }

  Gallery enroll_all() {
    Gallery gallery = Gallery::create(gallery_.path() / "g", pipeline_->embedder().info());
    EnrollOptions options;
    options.progress = false;
    const EnrollReport report =
        enroll_people(gallery, *pipeline_, list_people(people_.path()), options);
    EXPECT_EQ(report.people, 5);
    EXPECT_EQ(report.faces, 9);
    EXPECT_TRUE(report.skipped.empty());
    return gallery;
  }

  // The names given to the faces of a photo, Unknown left out: several photos show bystanders
  // (a second face in biden2.jpg, a third person in obama_and_biden.jpg) who must stay Unknown.
  std::vector<std::string> labels_in(const Recognizer& recognizer, const std::string& relative) {
    const auto result = recognizer.identify_file(shared_path(relative));
    EXPECT_FALSE(result.faces.empty()) << relative;
    std::vector<std::string> labels;
    for (const auto& f : result.faces) {
      if (f.decision.known()) labels.push_back(f.decision.label);
    }
    std::sort(labels.begin(), labels.end());
    return labels;
  }

  testing::TempDir home_, people_, gallery_;
  std::unique_ptr<FacePipeline> pipeline_;
};

TEST_F(RecognizeTest, NamesEnrolledPeopleInNewPhotosAndGroupsAndStrangersAreUnknown) {
  Gallery gallery = enroll_all();
  EXPECT_TRUE(gallery.check_integrity().ok);
  const Recognizer recognizer(gallery, *pipeline_, default_vote(gallery.model()));

  // Photos that were not enrolled.
  EXPECT_EQ(labels_in(recognizer, kExamples + "joe_biden/biden2.jpg"),
            std::vector<std::string>{"joe_biden"});
  EXPECT_EQ(labels_in(recognizer, kExamples + "kit_harington/johnsnow_test1.jpg"),
            std::vector<std::string>{"kit_harington"});
  EXPECT_EQ(labels_in(recognizer, kExamples + "rose_leslie/img2.jpg"),
            std::vector<std::string>{"rose_leslie"});
  EXPECT_EQ(labels_in(recognizer, kExamples + "barack_obama/obama_partial_face.jpg"),
            std::vector<std::string>{"barack_obama"});
  // Group photos: every face named.
  EXPECT_EQ(labels_in(recognizer, kExamples + "_group/obama_and_biden.jpg"),
            (std::vector<std::string>{"barack_obama", "joe_biden"}));
  EXPECT_EQ(labels_in(recognizer, kExamples + "_group/kit_with_rose.jpg"),
            (std::vector<std::string>{"kit_harington", "rose_leslie"}));
  // People never enrolled: every face Unknown.
  EXPECT_TRUE(labels_in(recognizer, kExamples + "lin_manuel_miranda/lin-manuel-miranda.png").empty());
  EXPECT_TRUE(
      labels_in(recognizer, "data/faces/named/facenet_pytorch_samples/angelina_jolie/1.jpg").empty());
  EXPECT_TRUE(
      labels_in(recognizer, "data/faces/named/facenet_pytorch_samples/paul_rudd/1.jpg").empty());
}

TEST_F(RecognizeTest, RerunSkipsEnrolledImagesAndRemovalForgetsThePerson) {
  Gallery gallery = enroll_all();
  EnrollOptions options;
  options.progress = false;
  const EnrollReport again =
      enroll_people(gallery, *pipeline_, list_people(people_.path()), options);
  EXPECT_EQ(again.faces, 0);
  EXPECT_TRUE(again.skipped.empty());
  EXPECT_EQ(again.already_enrolled.size(), 9u);
  EXPECT_FALSE(again.written);
  EXPECT_EQ(gallery.size(), 9u);

  EXPECT_EQ(gallery.remove_person("joe_biden"), 1);
  const Recognizer recognizer(gallery, *pipeline_, default_vote(gallery.model()));
  EXPECT_TRUE(labels_in(recognizer, kExamples + "joe_biden/biden2.jpg").empty());
  for (const auto& f : recognizer.identify_file(shared_path(kExamples + "joe_biden/biden2.jpg")).faces) {
    for (const auto& n : f.neighbours) EXPECT_NE(n.person, "joe_biden");
  }
}

TEST_F(RecognizeTest, ImagesWithoutExactlyOneFaceAreSkippedAndListed) {
  testing::make_people_dir(people_.path(), {{"crowd", kExamples + "_group/obama_and_biden.jpg"}});
  Gallery gallery = Gallery::create(gallery_.path() / "g", pipeline_->embedder().info());
  EnrollOptions options;
  options.progress = false;
  const EnrollReport report = enroll_people(
      gallery, *pipeline_, {{"crowd", {people_.path() / "crowd/obama_and_biden.jpg"}}}, options);
  EXPECT_EQ(report.faces, 0);
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_NE(report.skipped[0].reason.find(" faces"), std::string::npos) << report.skipped[0].reason;
  EXPECT_EQ(gallery.size(), 0u);
}

TEST_F(RecognizeTest, VerifySeparatesSameFromDifferentPeople) {
  const float threshold = default_vote(pipeline_->embedder().info()).threshold;
  auto load = [](const std::string& rel) { return load_image(shared_path(kExamples + rel)); };
  const Verification same =
      verify_faces(*pipeline_, load("barack_obama/obama.jpg"), load("barack_obama/obama2.jpg"), threshold);
  const Verification different =
      verify_faces(*pipeline_, load("barack_obama/obama.jpg"), load("joe_biden/biden.jpg"), threshold);
  EXPECT_TRUE(same.same);
  EXPECT_FALSE(different.same);
  // dlib descriptors of any two faces lie in a narrow cone (cosine ~0.8 for strangers).
  EXPECT_GT(same.cosine, different.cosine + 0.1f);
}

TEST_F(RecognizeTest, ListPeopleUsesTrainSubfoldersAndRejectsEmptyFolders) {
  testing::TempDir layout;
  testing::make_people_dir(layout.path() / "barack_obama",
                           {{"train", kExamples + "barack_obama/obama.jpg"}});
  const auto people = list_people(layout.path());
  ASSERT_EQ(people.size(), 1u);
  EXPECT_EQ(people[0].person, "barack_obama");
  EXPECT_EQ(people[0].images.size(), 1u);
  testing::TempDir empty;
  EXPECT_THROW(list_people(empty.path()), InputError);
  EXPECT_THROW(list_people(empty.path() / "missing"), InputError);
}

}  // namespace
}  // namespace clipface
