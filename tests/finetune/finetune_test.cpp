// Fine-tuning machinery on the tiny fixture model: templates, split, training, the classifier
// file (round trip, base check, truncation, atomic write) and the open-set metrics.
// vit-tiny has random weights: every figure here tests the machinery, never accuracy.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <random>
#include <set>

#include "clip/engine.hpp"
#include "clipface/clip.hpp"
#include "clipface/errors.hpp"
#include "clipface/finetune.hpp"
#include "finetune/text_tower.hpp"
#include "support/test_env.hpp"

namespace clipface::finetune {
namespace {

namespace fs = std::filesystem;
using clipface::testing::shared_path;
using clipface::testing::TempDir;

std::string vit_tiny() { return shared_path("fixtures/clip/vit-tiny.openai.pt").string(); }

TEST(Template, FillsEveryFieldWithTheName) {
  EXPECT_EQ(fill_template(kPaperTemplate, "Obama"), "This is the image of a person named Obama");
  EXPECT_EQ(fill_template("{}", "Ann"), "Ann");
  EXPECT_EQ(fill_template("{} and {}", "Ann"), "Ann and Ann");
  EXPECT_EQ(fill_template("{{literal}} {}", "Ann"), "{literal} Ann");
  EXPECT_EQ(display_name("barack_obama"), "barack obama");
  EXPECT_EQ(display_name("lin-manuel"), "lin manuel");
}

TEST(Template, UnknownFieldIsAnInputErrorNamingIt) {
  try {
    fill_template("This is {nme}", "Ann");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("{nme}"), std::string::npos) << e.what();
  }
  EXPECT_THROW(validate_template("no field"), InputError);
  EXPECT_THROW(validate_template("open { brace {}"), InputError);
  EXPECT_THROW(validate_template("stray } {}"), InputError);
  TrainOptions options;
  options.prompt_template = "{name}";
  EXPECT_THROW(validate(options), InputError);
}

TEST(Loss, ParsesNames) {
  EXPECT_EQ(parse_loss("ce"), Loss::cross_entropy);
  EXPECT_EQ(parse_loss("arcface"), Loss::arcface);
  EXPECT_EQ(parse_loss("triplet"), Loss::triplet);
  EXPECT_THROW(parse_loss("hinge"), InputError);
}

TEST(Split, DeterministicPerPersonEightyTwenty) {
  std::vector<int> labels;
  for (int person = 0; person < 4; ++person) {
    for (int i = 0; i < 5 + person * 5; ++i) labels.push_back(person);  // 5, 10, 15, 20
  }
  labels.push_back(4);  // a person with one image keeps it for training
  const Split a = split_per_person(labels, 7);
  const Split b = split_per_person(labels, 7);
  const Split c = split_per_person(labels, 8);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.validation, b.validation);
  EXPECT_NE(a.validation, c.validation);
  std::vector<int> val_count(5, 0), train_count(5, 0);
  for (auto i : a.validation) ++val_count[static_cast<std::size_t>(labels[i])];
  for (auto i : a.train) ++train_count[static_cast<std::size_t>(labels[i])];
  EXPECT_EQ(val_count, (std::vector<int>{1, 2, 3, 4, 0}));
  EXPECT_EQ(train_count, (std::vector<int>{4, 8, 12, 16, 1}));
  std::set<std::size_t> all(a.train.begin(), a.train.end());
  all.insert(a.validation.begin(), a.validation.end());
  EXPECT_EQ(all.size(), labels.size());  // a partition
}

// Synthetic face set: per class a random direction plus noise (unit rows), in the model's space.
FaceSet synthetic_faces(int classes, int per_class, int dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  FaceSet set;
  set.embeddings = Matrix(0, static_cast<std::size_t>(dim));
  for (int c = 0; c < classes; ++c) {
    set.classes.push_back("person_" + std::string(1, static_cast<char>('a' + c)));
    std::vector<float> centre(static_cast<std::size_t>(dim));
    for (auto& v : centre) v = normal(rng);
    for (int i = 0; i < per_class; ++i) {
      for (int d = 0; d < dim; ++d) {
        set.embeddings.data.push_back(centre[static_cast<std::size_t>(d)] + 0.3f * normal(rng));
      }
      ++set.embeddings.rows;
      set.labels.push_back(c);
      set.paths.push_back("synthetic");
    }
  }
  normalize_rows(set.embeddings);
  return set;
}

class TinyModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(vit_tiny())) GTEST_SKIP() << "shared data missing: " << vit_tiny();
    // The tokenizer finds its vocabulary in $CLIPFACE_SHARED/models/clip when no home has it.
    ::setenv("CLIPFACE_SHARED", clipface::testing::shared_dir().c_str(), /*overwrite=*/0);
    model_ = std::make_unique<ClipModel>(ClipModel::load(vit_tiny()));
  }
  TrainOptions fast_options() const {
    TrainOptions o;
    o.learning_rate = 1e-3;  // the tiny model needs big steps to move in a few epochs
    o.epochs = 4;
    o.progress = false;
    return o;
  }
  std::unique_ptr<ClipModel> model_;
};

TEST_F(TinyModel, TrainingLowersTheLossAndLeavesTheImageTowerAlone) {
  const FaceSet data = synthetic_faces(3, 10, model_->info().embed_dim, 1);
  const Split split = split_per_person(data.labels, 0);
  auto& net = *model_->impl().net;
  std::map<std::string, torch::Tensor> frozen;
  for (const auto& p : net.named_parameters()) {
    if (!detail::is_text_tower(p.key())) frozen[p.key()] = p.value().detach().clone();
  }
  const torch::Tensor projection_before = net.text_projection.detach().clone();
  std::vector<int> seen_epochs;
  TrainOptions options = fast_options();
  options.on_epoch = [&](const EpochStats& s) { seen_epochs.push_back(s.epoch); };
  const TrainReport report = train_prompts(*model_, data, split, options);
  EXPECT_EQ(seen_epochs, (std::vector<int>{1, 2, 3, 4}));
  ASSERT_EQ(report.epochs.size(), 4u);
  EXPECT_EQ(report.steps, 4 * 2);  // 24 training images, batches of 16
  EXPECT_LT(report.epochs.back().loss, report.epochs.front().loss);
  EXPECT_GE(report.best_epoch, 1);
  EXPECT_EQ(report.validation_accuracy, report.epochs[report.best_epoch - 1].validation_accuracy);
  EXPECT_LT(report.context_length, 20);
  EXPECT_FALSE(torch::equal(projection_before, net.text_projection));
  for (const auto& p : net.named_parameters()) {
    if (detail::is_text_tower(p.key())) continue;
    EXPECT_TRUE(torch::equal(p.value(), frozen.at(p.key()))) << p.key();
  }
  // The report's class embeddings are the model's own prompts now.
  const Matrix prompts = model_->encode_texts(
      {"This is the image of a person named person a", "This is the image of a person named person b",
       "This is the image of a person named person c"});
  for (std::size_t i = 0; i < prompts.data.size(); ++i) {
    EXPECT_NEAR(prompts.data[i], report.class_embeddings.data[i], 1e-5);
  }
}

TEST_F(TinyModel, KeepsTheBestEpochAndSameSeedGivesSameResult) {
  const FaceSet data = synthetic_faces(3, 10, model_->info().embed_dim, 2);
  const Split split = split_per_person(data.labels, 3);
  TrainOptions options = fast_options();
  options.epochs = 3;
  const auto run = [&] {
    ClipModel fresh = ClipModel::load(vit_tiny());
    return train_prompts(fresh, data, split, options);
  };
  const TrainReport a = run();
  const TrainReport b = run();
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  for (std::size_t e = 0; e < a.epochs.size(); ++e) EXPECT_DOUBLE_EQ(a.epochs[e].loss, b.epochs[e].loss);
  EXPECT_EQ(a.class_embeddings.data, b.class_embeddings.data);
  double best = -1;
  for (const auto& e : a.epochs) best = std::max(best, e.validation_accuracy);
  EXPECT_EQ(a.validation_accuracy, best);
}

TEST_F(TinyModel, NeedsTwoPeople) {
  FaceSet data = synthetic_faces(1, 5, model_->info().embed_dim, 3);
  const Split split = split_per_person(data.labels, 0);
  try {
    train_prompts(*model_, data, split, fast_options());
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to contrast"), std::string::npos) << e.what();
  }
}

TEST_F(TinyModel, ClassifierFileRoundTripAndChecks) {
  const FaceSet data = synthetic_faces(3, 6, model_->info().embed_dim, 4);
  const Split split = split_per_person(data.labels, 5);
  TrainOptions options = fast_options();
  options.epochs = 2;
  const TrainReport report = train_prompts(*model_, data, split, options);
  TempDir dir;
  const fs::path file = dir / "people.safetensors";
  save_classifier(file, *model_, data, split, options, report);
  // Only the result file is left (temp file renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);

  const ClassifierInfo info = read_classifier_info(file);
  EXPECT_EQ(info.classes, data.classes);
  EXPECT_EQ(info.prompt_template, kPaperTemplate);
  EXPECT_EQ(info.base_sha256, model_->info().sha256);
  EXPECT_EQ(info.split_seed, 5u);
  EXPECT_EQ(info.loss, "ce");
  EXPECT_EQ(info.train_images, split.train.size());
  EXPECT_NEAR(info.train_accuracy, report.train_accuracy, 1e-6);
  EXPECT_NE(info.settings_json.find("\"weight_decay\":0.001"), std::string::npos)
      << info.settings_json;

  // Over a fresh copy of the base: same prompt embeddings, and the base is left untouched.
  ClipModel base = ClipModel::load(vit_tiny());
  const torch::Tensor before = base.impl().net->text_projection.detach().clone();
  const PromptClassifier classifier = PromptClassifier::load(file, base);
  EXPECT_TRUE(torch::equal(before, base.impl().net->text_projection));
  ASSERT_EQ(classifier.class_embeddings().data.size(), report.class_embeddings.data.size());
  for (std::size_t i = 0; i < report.class_embeddings.data.size(); ++i) {
    EXPECT_NEAR(classifier.class_embeddings().data[i], report.class_embeddings.data[i], 1e-6);
  }
  // Softmax confidences, Unknown below the minimum.
  const auto decisions = classifier.classify(data.embeddings, 0.0f);
  const Matrix probabilities = classifier.probabilities(data.embeddings);
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    double sum = 0;
    for (float p : probabilities.row(i)) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_TRUE(decisions[i].known());
  }
  for (const auto& d : classifier.classify(data.embeddings, 1.01f)) {
    EXPECT_EQ(d.label, "Unknown");
    EXPECT_FALSE(d.known());
  }

  // Over another base model: a clear ModelError.
  ClipModel other = ClipModel::load(shared_path("fixtures/clip/rn-tiny.openai.pt").string());
  try {
    PromptClassifier::load(file, other);
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("trained over base model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }

  // Truncated: ModelError naming the file, from the header check and from the full load.
  const fs::path cut = dir / "cut.safetensors";
  fs::copy_file(file, cut);
  fs::resize_file(cut, fs::file_size(file) / 2);
  EXPECT_THROW(read_classifier_info(cut), ModelError);
  EXPECT_THROW(PromptClassifier::load(cut, base), ModelError);
  fs::resize_file(cut, 5);
  EXPECT_THROW(read_classifier_info(cut), ModelError);
}

TEST_F(TinyModel, UnwritableOutputLeavesNoFile) {
  const FaceSet data = synthetic_faces(2, 3, model_->info().embed_dim, 6);
  const Split split = split_per_person(data.labels, 0);
  TrainOptions options = fast_options();
  options.epochs = 1;
  const TrainReport report = train_prompts(*model_, data, split, options);
  TempDir dir;
  EXPECT_THROW(check_writable(dir / "missing" / "x.safetensors"), InputError);
  EXPECT_THROW(check_writable(dir.path()), InputError);  // a folder in the way
  EXPECT_NO_THROW(check_writable(dir / "x.safetensors"));
  const fs::path locked = dir / "locked";
  fs::create_directory(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() != 0) {
    EXPECT_THROW(check_writable(locked / "x.safetensors"), InputError);
    EXPECT_THROW(save_classifier(locked / "x.safetensors", *model_, data, split, options, report),
                 InputError);
    EXPECT_TRUE(fs::is_empty(locked));
  }
  EXPECT_THROW(save_classifier(dir / "missing" / "x.safetensors", *model_, data, split, options,
                               report),
               InputError);
}

TEST(OpenSet, RatesAsDefined) {
  // Two classes along the axes; logit scale 100 makes confidences near 0 or 1.
  TrainReport report;
  report.class_embeddings = Matrix(2, 2);
  report.class_embeddings.at(0, 0) = 1;
  report.class_embeddings.at(1, 1) = 1;
  report.logit_scale = 100;
  ClassifierInfo info;
  info.classes = {"ann", "bob"};
  info.train_accuracy = 0.9;
  const PromptClassifier classifier = PromptClassifier::from_report(report, info);
  const auto row = [](float x, float y) {
    const float n = std::sqrt(x * x + y * y);
    return std::vector<float>{x / n, y / n};
  };
  Matrix enrolled(0, 2);
  // ann right, ann right, bob named ann (wrong), bob ambiguous (Unknown).
  for (const auto& r : {row(1, 0), row(1, 0.1f), row(1, 0.05f), row(1, 1)}) {
    enrolled.data.insert(enrolled.data.end(), r.begin(), r.end());
    ++enrolled.rows;
  }
  Matrix strangers(0, 2);
  for (const auto& r : {row(0.2f, 1), row(1, 1.001f), row(1, 0.999f)}) {
    strangers.data.insert(strangers.data.end(), r.begin(), r.end());
    ++strangers.rows;
  }
  const OpenSetResult r =
      evaluate_open_set(classifier, {enrolled, {"ann", "ann", "bob", "bob"}, strangers}, 0.8f);
  // The definitions of clipface/open_set.hpp (NIST's FNIR / FPIR): a misnamed enrolled face is a
  // false negative too, and is also counted on its own.
  EXPECT_EQ(r.point.genuine, 4u);
  EXPECT_EQ(r.point.impostor, 3u);
  EXPECT_EQ(r.point.genuine_correct, 2u);
  EXPECT_EQ(r.point.genuine_misidentified, 1u);
  EXPECT_EQ(r.point.genuine_rejected, 1u);
  EXPECT_EQ(r.point.impostor_accepted, 1u);  // the first stranger is clearly bob; near-ties not
  EXPECT_DOUBLE_EQ(r.point.accuracy, 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(r.point.fpr, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.point.fnr, 2.0 / 4.0);  // one Unknown + one misnamed
  EXPECT_DOUBLE_EQ(r.point.misidentification, 1.0 / 4.0);
  EXPECT_DOUBLE_EQ(r.closed_set_accuracy, 2.0 / 4.0);  // the tie goes to the first class
  EXPECT_DOUBLE_EQ(r.training_accuracy, 0.9);
  EXPECT_THROW(evaluate_open_set(classifier, {enrolled, {"ann", "ann", "bob", "eve"}, strangers}),
               InputError);
  // Gallery-style decisions for identify --classifier.
  const auto decisions = classifier.decide(strangers, 0.8f);
  EXPECT_EQ(decisions[0].label, "bob");
  EXPECT_EQ(decisions[1].label, "Unknown");
  EXPECT_EQ(decisions[1].nearest, "bob");
}

}  // namespace
}  // namespace clipface::finetune
