// The fine-tuned prompt classifier in the open-set protocols: scoring by the one definition of
// clipface/open_set.hpp (the eval path and finetune::evaluate_open_set agree on hand-made
// predictions), and `openset --classifier prompts` / `prompts` end to end on real photos with the
// tiny fixture model (its figures test the machinery, never accuracy).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "clipface/errors.hpp"
#include "clipface/eval/dataset.hpp"
#include "clipface/eval/prompt_openset.hpp"
#include "clipface/eval/protocols.hpp"
#include "support/test_env.hpp"

namespace clipface::eval {
namespace {

using clipface::testing::shared_path;
using clipface::testing::TempDir;

constexpr const char* kFiveCelebrity = "data/faces/named/five_celebrity";
constexpr const char* kVitTiny = "fixtures/clip/vit-tiny.safetensors";
constexpr const char* kYunet = "models/yunet/face_detection_yunet_2022mar.onnx";

// Two classes along the axes; logit scale 100 makes confidences near 0.5 or 1.
finetune::PromptClassifier two_axes() {
  finetune::TrainReport report;
  report.class_embeddings = Matrix(2, 2);
  report.class_embeddings.at(0, 0) = 1;
  report.class_embeddings.at(1, 1) = 1;
  report.logit_scale = 100;
  finetune::ClassifierInfo info;
  info.classes = {"ann", "bob"};
  info.loss = "ce";
  return finetune::PromptClassifier::from_report(report, info);
}

Matrix unit_rows(std::initializer_list<std::pair<float, float>> rows) {
  Matrix m(0, 2);
  for (auto [x, y] : rows) {
    const float n = std::hypot(x, y);
    m.data.insert(m.data.end(), {x / n, y / n});
    ++m.rows;
  }
  return m;
}

TEST(PromptOpenSet, EvalAndFinetuneScoreTheSameWay) {
  const auto classifier = two_axes();
  const PromptIdentityClassifier wrapped(classifier);
  // Genuine: ann right, bob named ann, bob a near tie; impostors: clearly bob, a near tie.
  const Matrix genuine = unit_rows({{1, 0}, {1, 0.05f}, {1, 1}});
  const Matrix impostors = unit_rows({{0.2f, 1}, {1, 0.999f}});
  const std::vector<std::string> names{"ann", "bob", "bob"};

  const auto g = wrapped.predict(genuine), i = wrapped.predict(impostors);
  EXPECT_EQ(g[0].label, "ann");
  EXPECT_GT(g[0].confidence, 0.99f);
  EXPECT_NEAR(g[2].confidence, 0.5f, 1e-4f);  // softmax over two equal prompts
  std::vector<Prediction> predictions = g;
  predictions.insert(predictions.end(), i.begin(), i.end());
  const std::vector<std::string> truth{"ann", "bob", "bob", "", ""};
  const OpenSetPoint eval_point = evaluate_open_set(predictions, truth, 0.8f);
  EXPECT_EQ(eval_point.genuine_correct, 1u);
  EXPECT_EQ(eval_point.genuine_misidentified, 1u);
  EXPECT_EQ(eval_point.genuine_rejected, 1u);
  EXPECT_EQ(eval_point.impostor_accepted, 1u);
  EXPECT_DOUBLE_EQ(eval_point.fnr, 2.0 / 3.0);  // rejected + misnamed
  EXPECT_DOUBLE_EQ(eval_point.fpr, 1.0 / 2.0);
  EXPECT_DOUBLE_EQ(eval_point.accuracy, 2.0 / 5.0);

  const auto finetune_result =
      finetune::evaluate_open_set(classifier, {genuine, names, impostors}, 0.8f);
  const OpenSetPoint& f = finetune_result.point;
  EXPECT_EQ(f.genuine_correct, eval_point.genuine_correct);
  EXPECT_EQ(f.genuine_misidentified, eval_point.genuine_misidentified);
  EXPECT_EQ(f.genuine_rejected, eval_point.genuine_rejected);
  EXPECT_EQ(f.impostor_accepted, eval_point.impostor_accepted);
  EXPECT_DOUBLE_EQ(f.fnr, eval_point.fnr);
  EXPECT_DOUBLE_EQ(f.fpr, eval_point.fpr);
  EXPECT_DOUBLE_EQ(f.accuracy, eval_point.accuracy);
  EXPECT_DOUBLE_EQ(f.misidentification, eval_point.misidentification);
}

TEST(PromptOpenSet, OnlyClipSpecsAndTheEmbeddersOwnModel) {
  EXPECT_THROW(require_clip_spec("dlib"), InputError);
  EXPECT_THROW(require_clip_spec("clip:"), InputError);
  EXPECT_NO_THROW(require_clip_spec("clip-random:ViT-B-32"));
  CLIPFACE_REQUIRE_SHARED(kVitTiny);
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/rn-tiny.safetensors");
  ::setenv("CLIPFACE_SHARED", clipface::testing::shared_dir().c_str(), 0);
  const auto embedder = make_embedder("clip:" + shared_path(kVitTiny).string());
  EXPECT_NO_THROW(load_clip_model("clip:" + shared_path(kVitTiny).string(), embedder->info(), {}));
  EXPECT_THROW(load_clip_model("clip:" + shared_path("fixtures/clip/rn-tiny.safetensors").string(),
                               embedder->info(), {}),
               ModelError);
  // The protocols train the embedder's own model: one copy of the weights, not two.
  const auto shared = clip_model_for("clip:" + shared_path(kVitTiny).string(), *embedder, {});
  ASSERT_NE(embedder->clip_model(), nullptr);
  EXPECT_EQ(shared.get(), embedder->clip_model().get());
}

class RealPrompts : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* needed : {kFiveCelebrity, kVitTiny, kYunet}) {
      if (!std::filesystem::exists(shared_path(needed)))
        GTEST_SKIP() << "shared data missing: " << needed;
    }
    // The tokenizer finds its vocabulary in $CLIPFACE_SHARED/models/clip when no home has it.
    ::setenv("CLIPFACE_SHARED", clipface::testing::shared_dir().c_str(), 0);
  }
  ProtocolOptions options() const {
    ProtocolOptions o;
    o.embedder_spec = "clip:" + shared_path(kVitTiny).string();
    o.embed.detector.model = shared_path(kYunet).string();
    o.embed.cache_dir = cache_.path();
    o.embed.progress = false;
    o.max_people = 3;
    o.classifier = "prompts";
    o.training.epochs = 2;
    o.training.learning_rate = 1e-3;  // the tiny model needs big steps to move at all
    return o;
  }
  static std::size_t images_of(const std::string& person) {
    return static_cast<std::size_t>(
        std::distance(std::filesystem::directory_iterator(shared_path(kFiveCelebrity) / person),
                      std::filesystem::directory_iterator()));
  }
  static TempDir cache_;
};
TempDir RealPrompts::cache_;

TEST_F(RealPrompts, OpenSetTrainsOnKnownPeopleAndProbesTheRest) {
  const auto out = run_protocol("openset", shared_path(kFiveCelebrity), options());
  const auto& j = out.json;
  ASSERT_EQ(j["dataset"]["embedded"], j["dataset"]["images"]) << out.text;  // every face found
  EXPECT_EQ(j["classifier_kind"], "prompts");
  EXPECT_NE(j["confidence"].get<std::string>().find("softmax"), std::string::npos);
  // 3 people, half known: two are enrolled (the prompt classifier needs two to contrast).
  const std::vector<std::string> known = j["known_people"];
  ASSERT_EQ(known.size(), 2u);
  const std::size_t images = j["dataset"]["embedded"];
  const std::size_t training = j["training_images"];
  const auto& at = j["at_threshold"];
  const std::size_t genuine = at["genuine"], impostor = at["impostor"];
  EXPECT_EQ(genuine + impostor + training, images);  // every image is a probe or trained on
  EXPECT_EQ(at["genuine_correct"].get<std::size_t>() +
                at["genuine_misidentified"].get<std::size_t>() +
                at["genuine_rejected"].get<std::size_t>(),
            genuine);
  // Impostors are exactly the images of the person never enrolled; known people never are.
  std::size_t known_images = 0;
  for (const auto& person : known) known_images += images_of(person);
  EXPECT_EQ(impostor, images - known_images);
  EXPECT_EQ(genuine + training, known_images);
  // The 80/20: round(0.8 n) of each known person's n images are trained on.
  std::size_t expected_training = 0;
  for (const auto& person : known)
    expected_training += static_cast<std::size_t>(std::lround(0.8 * double(images_of(person))));
  EXPECT_EQ(training, expected_training);
  EXPECT_EQ(j["train_images"].get<std::size_t>() + j["validation_images"].get<std::size_t>(),
            training);
  // Training figures are reported (the tiny model's values mean nothing).
  const auto& t = j["training"];
  EXPECT_GE(t["train_accuracy"].get<double>(), 0.0);
  EXPECT_LE(t["train_accuracy"].get<double>(), 1.0);
  EXPECT_GE(t["validation_accuracy"].get<double>(), 0.0);
  EXPECT_GE(t["best_epoch"].get<int>(), 1);
  EXPECT_LE(t["best_epoch"].get<int>(), 2);
  EXPECT_EQ(t["per_epoch"].size(), 2u);
  EXPECT_EQ(j["curve"].size(), 101u);
  EXPECT_DOUBLE_EQ(at["threshold"].get<double>(), 0.8);
  EXPECT_NE(out.text.find("training accuracy"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("FNIR"), std::string::npos);
  const bool has_summary = std::any_of(out.summary.begin(), out.summary.end(), [](const auto& m) {
    return m.first == "training accuracy";
  });
  EXPECT_TRUE(has_summary);
}

TEST_F(RealPrompts, ShotsReplaceTheTrainFraction) {
  auto o = options();
  o.shots = 2;
  o.training.epochs = 1;
  const auto out = run_protocol("openset", shared_path(kFiveCelebrity), o);
  EXPECT_EQ(out.json["training_images"], 4);  // two known people, two images each
  EXPECT_EQ(out.json["shots"], 2);
}

TEST_F(RealPrompts, StudyRowsShareOneSplit) {
  auto o = options();
  o.training.epochs = 1;
  o.templates = {"{}", "a photo of {}"};
  o.losses = {finetune::Loss::cross_entropy, finetune::Loss::triplet};
  const auto out = run_protocol("prompts", shared_path(kFiveCelebrity), o);
  const auto& rows = out.json["rows"];
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0]["template"], "{}");
  EXPECT_EQ(rows[1]["loss"], "triplet");
  EXPECT_EQ(rows[3]["template"], "a photo of {}");
  for (const auto& row : rows) {
    EXPECT_EQ(row["open_set"]["genuine"], out.json["genuine"]);
    EXPECT_EQ(row["open_set"]["impostor"], out.json["impostor"]);
  }
  EXPECT_NE(out.text.find("a photo of {}"), std::string::npos);
}

}  // namespace
}  // namespace clipface::eval
