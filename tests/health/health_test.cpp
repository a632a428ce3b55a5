// The gallery doctor on a real gallery with the problems planted that the studies found by hand:
// a photo filed under the wrong person, one person under two names, the same photo twice, a
// blurred photo, a vector that came from elsewhere; each is found with the face to look at and
// the command that fixes it, and the fix makes the finding go away.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/health.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "health/tamper.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples";

std::vector<const Finding*> of_kind(const HealthReport& r, const std::string& kind) {
  std::vector<const Finding*> out;
  for (const auto& f : r.findings) {
    if (f.kind == kind) out.push_back(&f);
  }
  return out;
}

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SHARED(kExamples);
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
    testing::make_models_home(home_.path());
    setenv("CLIPFACE_HOME", home_.path().c_str(), 1);
    const fs::path extra = work_.path() / "made";
    fs::create_directories(extra);
    // A re-encoded copy of a photo (another file, the same picture) and a blurred one.
    const cv::Mat obama = load_image(shared_path(kExamples + "/barack_obama/obama1.jpg"));
    ASSERT_TRUE(
        cv::imwrite((extra / "obama1_copy.jpg").string(), obama, {cv::IMWRITE_JPEG_QUALITY, 85}));
    const cv::Mat kit = load_image(shared_path(kExamples + "/kit_harington/john2.jpeg"));
    cv::Mat blurred;
    cv::GaussianBlur(kit, blurred, {0, 0}, 2.0 * kit.cols / 250.0);
    ASSERT_TRUE(cv::imwrite((extra / "john2_blurred.jpg").string(), blurred));
    const PipelineOptions dlib;
    pipeline_ = std::make_unique<FacePipeline>(dlib);
    gallery_ = std::make_unique<Gallery>(
        Gallery::create(work_.path() / "g", pipeline_->embedder().info()));
    EnrollOptions o;
    o.progress = false;
    const auto enroll = [&](const std::string& person, std::vector<fs::path> photos,
                            bool gate = true) {
      o.quality.enabled = gate;
      enroll_people(*gallery_, *pipeline_, {{person, std::move(photos)}}, o);
    };
    const auto ex = [](const std::string& f) { return shared_path(kExamples + "/" + f); };
    enroll("barack_obama", {ex("barack_obama/obama.jpg"), ex("barack_obama/obama1.jpg"),
                            ex("barack_obama/obama2.jpg"), extra / "obama1_copy.jpg"});
    enroll("obama", {ex("barack_obama/obama3.jpg"), ex("barack_obama/obama_partial_face.jpg")});
    // Rose's photo filed under Kit.
    enroll("kit_harington", {ex("kit_harington/john1.jpeg"), ex("kit_harington/john2.jpeg"),
                             ex("kit_harington/johnsnow_test1.jpg"), ex("rose_leslie/img1.jpg")});
    enroll("rose_leslie", {ex("rose_leslie/img2.jpg")});
    enroll("alex_lacamoire",
           {ex("alex_lacamoire/img1.jpg"), ex("alex_lacamoire/alex_lacamoire1.jpg"),
            ex("alex_lacamoire/alex-lacamoire.png")});
    enroll("alex_lacamoire", {extra / "john2_blurred.jpg"}, /*gate=*/false);
    ASSERT_EQ(gallery_->size(), 15u);
  }
  HealthReport check() { return check_health(*gallery_, {}, &pipeline_->embedder(), "dlib"); }
  std::int64_t face_of(const std::string& person, const std::string& file_part) {
    for (const auto& f : gallery_->faces(person)) {
      if (f.image_path.find(file_part) != std::string::npos) return f.id;
    }
    return 0;
  }

  testing::TempDir home_, work_;
  std::unique_ptr<FacePipeline> pipeline_;
  std::unique_ptr<Gallery> gallery_;
};

TEST_F(Doctor, FindsWhatWasPlantedWithTheFixForEach) {
  const HealthReport r = check();
  std::cout << to_text(r);
  EXPECT_EQ(r.count(Severity::problem), 0u);

  const auto mislabelled = of_kind(r, "mislabelled");
  ASSERT_EQ(mislabelled.size(), 1u);
  const std::int64_t rose = face_of("kit_harington", "rose_leslie/img1.jpg");
  EXPECT_EQ(mislabelled[0]->faces, std::vector<std::int64_t>{rose});
  EXPECT_NE(mislabelled[0]->message.find("looks more like 'rose_leslie'"), std::string::npos);
  EXPECT_NE(
      mislabelled[0]->fix.find("split kit_harington " + std::to_string(rose) + " --to rose_leslie"),
      std::string::npos)
      << mislabelled[0]->fix;
  EXPECT_NE(mislabelled[0]->files[0].find("rose_leslie/img1.jpg"), std::string::npos);

  const auto same = of_kind(r, "same_person");
  ASSERT_EQ(same.size(), 1u);
  EXPECT_NE(same[0]->fix.find("merge obama barack_obama"), std::string::npos) << same[0]->fix;

  const auto duplicates = of_kind(r, "duplicate_photos");
  ASSERT_EQ(duplicates.size(), 1u);
  const std::int64_t copy = face_of("barack_obama", "obama1_copy.jpg");
  EXPECT_EQ(duplicates[0]->faces.back(), copy);
  EXPECT_NE(duplicates[0]->fix.find("forget " + std::to_string(copy)), std::string::npos);

  const auto low = of_kind(r, "low_quality");
  ASSERT_EQ(low.size(), 1u);
  EXPECT_NE(low[0]->message.find("blurry"), std::string::npos);
  const auto few = of_kind(r, "few_photos");
  ASSERT_EQ(few.size(), 1u);
  EXPECT_EQ(few[0]->people, (std::vector<std::string>{"obama", "rose_leslie"}));
  EXPECT_EQ(of_kind(r, "not_calibrated").size(), 1u);
  EXPECT_TRUE(of_kind(r, "other_model").empty());

  // The fixes, through the library calls the commands make: the findings go away.
  gallery_->split(FaceGroup::parse("kit_harington"), {rose}, "rose_leslie");
  gallery_->merge(FaceGroup::parse("obama"), FaceGroup::parse("barack_obama"));
  gallery_->remove_faces({copy, low[0]->faces[0]});
  const HealthReport after = check();
  for (const char* kind : {"mislabelled", "same_person", "duplicate_photos", "low_quality"}) {
    EXPECT_TRUE(of_kind(after, kind).empty()) << kind << "\n" << to_text(after);
  }

  // The page shows the crops of the faces named.
  const fs::path page = write_health_page(r, *gallery_, work_.path() / "html");
  const std::string html = testing::read_text(page);
  EXPECT_NE(html.find("face_" + std::to_string(rose) + ".png"), std::string::npos);
  EXPECT_TRUE(fs::exists(work_.path() / "html" / ("face_" + std::to_string(rose) + ".png")));
  EXPECT_EQ(to_json(r)["findings"].size(), r.findings.size());
}

TEST_F(Doctor, VectorsFromAnotherModelAreProblems) {
  // Overwrite one stored vector with another unit vector, as a tool that mixed models would.
  const std::int64_t victim = face_of("alex_lacamoire", "alex_lacamoire1.jpg");
  testing::overwrite_vector(gallery_->dir() / kGalleryDbName, victim, 128, 7);
  const Gallery reopened = Gallery::open(gallery_->dir(), GalleryMode::read);
  const HealthReport r = check_health(reopened, {}, &pipeline_->embedder(), "dlib");
  const auto other = of_kind(r, "other_model");
  ASSERT_EQ(other.size(), 1u) << to_text(r);
  EXPECT_EQ(other[0]->severity, Severity::problem);
  EXPECT_EQ(other[0]->faces, std::vector<std::int64_t>{victim});
  EXPECT_NE(other[0]->fix.find("reembed"), std::string::npos);
  EXPECT_NE(other[0]->fix.find("--again"), std::string::npos);
}

}  // namespace
}  // namespace clipface
