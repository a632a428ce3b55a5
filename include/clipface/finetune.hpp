// Single-shot fine-tuning of CLIP's text tower ("CLIP Unreasonable Potential in Single-Shot Face
// Recognition"): the image encoder stays frozen, only the text tower learns to match the prompt
// "This is the image of a person named <name>" to that person's face crops, and a face is named
// by softmax over the scaled prompt similarities, "Unknown" below a confidence (0.80 by default).
//
// Flow: embed_face_folders() (detect + align + encode once; the encoder is frozen) ->
// split_per_person() -> train_prompts() (AdamW + cosine annealing, best epoch by validation
// accuracy) -> save_classifier() (safetensors with the text tower only) -> PromptClassifier.
// No LibTorch here: the trainer lives in src/finetune.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clipface/align.hpp"
#include "clipface/classify.hpp"
#include "clipface/detect.hpp"
#include "clipface/matrix.hpp"
#include "clipface/open_set.hpp"

namespace clipface {

class ClipModel;
struct EmbedderInfo;

namespace finetune {

inline constexpr const char* kPaperTemplate = "This is the image of a person named {}";
// The templates of the prompt study (point 6 of the issue): the paper's, shorter, bare name.
inline const std::vector<std::string> kStudyTemplates{kPaperTemplate, "This is the image of {}",
                                                      "{}"};
inline constexpr float kDefaultMinConfidence = 0.80f;

// Fills `{}` (every occurrence) with the class name. Any other `{...}` field, or an unclosed `{`,
// is an InputError naming the template; so is a template without `{}`.
std::string fill_template(const std::string& prompt_template, const std::string& name);
void validate_template(const std::string& prompt_template);

// Person folder names become names in prompts: '_' and '-' read as spaces ("barack_obama" ->
// "barack obama"), so the prompt says what a person would write.
std::string display_name(const std::string& folder_name);

enum class Loss {
  cross_entropy,  // the paper: CE over logit_scale * cosine(image, every class prompt)
  arcface,        // additive angular margin on the target prompt: s * cos(theta_y + m)
  triplet,        // image as anchor, own prompt positive, hardest other prompt negative
};
Loss parse_loss(const std::string& name);  // "ce" | "cross-entropy" | "arcface" | "triplet"
std::string to_string(Loss loss);

struct EpochStats {
  int epoch = 0;  // 1-based
  double loss = 0;
  double train_accuracy = 0;
  double validation_accuracy = -1;  // -1 when there is no validation image
  double seconds = 0;
};

// Every hyper-parameter with the paper's value as default.
struct TrainOptions {
  std::string prompt_template = kPaperTemplate;
  int epochs = 10;
  int batch_size = 16;             // images per optimizer step (shuffled by seed each epoch)
  double learning_rate = 5e-6;     // initial; cosine annealing to 0 over all steps
  double weight_decay = 1e-3;      // AdamW, on every trainable tensor (as torch does)
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  Loss loss = Loss::cross_entropy;
  double arcface_margin = 0.5;     // radians (ArcFace's default)
  double arcface_scale = 64.0;     // ArcFace's default
  double triplet_margin = 0.2;     // on cosines
  bool truncate_context = true;    // run only up to the longest prompt's end token (exact)
  bool keep_best = true;           // restore the epoch with the best validation accuracy
  bool progress = true;            // progress bar on stderr (drawn on terminals only)
  int threads = 0;                 // intra-op threads; 0 = leave as is
  std::function<void(const EpochStats&)> on_epoch;  // called after every epoch (may be empty)
};

// Throws InputError for a bad value (epochs < 1, batch < 1, lr <= 0, bad template, ...).
void validate(const TrainOptions& options);

// Labelled face embeddings, computed once with the frozen image encoder.
struct FaceSet {
  std::vector<std::string> classes;  // person folder names, sorted; label i = classes[i]
  Matrix embeddings;                 // one unit row per face
  std::vector<int> labels;           // class index per row
  std::vector<std::string> paths;    // image per row
  std::vector<std::string> skipped;  // "path: reason" for images without a usable face
  bool cropped = false;              // how the crops were made (recorded in classifier files)
  CropStyle crop_style = CropStyle::loose;

  std::size_t size() const { return labels.size(); }
};

struct FaceSetOptions {
  bool cropped = false;          // images are ready face crops: no detection, squash-resized
  DetectorOptions detector;      // used unless cropped; the face nearest the image centre wins
  CropStyle crop_style = CropStyle::loose;
  bool progress = true;
};

// DIR/<person>/* images (folders starting with '_' or '.' are skipped). Throws InputError when
// DIR is missing, a person folder has no usable face ("DIR/<person>: no usable face in N
// images"), or fewer than two people remain (nothing to contrast).
FaceSet embed_face_folders(const ClipModel& model, const std::filesystem::path& dir,
                           const FaceSetOptions& options = {});
// Embeds images of unlabelled or foreign people the same way (for open-set tests); images without
// a face are skipped. `paths` may name files or folders (searched recursively).
FaceSet embed_images(const ClipModel& model, const std::vector<std::filesystem::path>& paths,
                     const FaceSetOptions& options = {});

// Deterministic per-person split: each person's rows are shuffled with the seed and
// round(n * validation_fraction) go to validation, always leaving one for training.
struct Split {
  std::vector<std::size_t> train;
  std::vector<std::size_t> validation;
  std::uint64_t seed = 0;
  double validation_fraction = 0.2;
};
Split split_per_person(const std::vector<int>& labels, std::uint64_t seed,
                       double validation_fraction = 0.2);

struct TrainReport {
  std::vector<EpochStats> epochs;
  int best_epoch = 0;                // the epoch whose weights were kept
  double train_accuracy = 0;         // of the kept weights
  double validation_accuracy = -1;
  double initial_validation_accuracy = -1;  // zero-shot, before any step
  int steps = 0;
  int context_length = 0;            // tokens run per prompt (after truncation)
  double seconds_per_step = 0;
  bool random_weights = false;       // figures test the machinery only, never accuracy
  Matrix class_embeddings;           // unit prompt embeddings of the kept weights
  float logit_scale = 0;             // exp(logit_scale) of the base model
};

// Fine-tunes the text tower of `model` in place (the image tower and logit_scale are untouched)
// on the cached embeddings of `data`. At the end the model holds the kept (best) weights.
TrainReport train_prompts(ClipModel& model, const FaceSet& data, const Split& split,
                          const TrainOptions& options);

// What a classifier file says about itself (its safetensors __metadata__).
struct ClassifierInfo {
  std::vector<std::string> classes;
  std::string prompt_template;
  std::string base_name;
  std::string base_path;
  std::string base_sha256;       // "" for random weights
  std::string base_fingerprint;  // sha256 of the visual projection (catches other random seeds)
  std::string base_architecture; // for random-weight bases: "ViT-B-32", ...
  std::uint64_t base_seed = 0;   // for random-weight bases
  bool random_weights = false;
  std::string crop_style = "loose";
  bool cropped = false;
  std::string loss;
  std::string settings_json;     // every TrainOptions value
  std::uint64_t split_seed = 0;
  double train_accuracy = 0;
  double validation_accuracy = -1;
  int best_epoch = 0;
  std::size_t train_images = 0;
  std::size_t validation_images = 0;
};

// Writes the trained text-tower tensors of `model` (token_embedding, positional_embedding,
// transformer.*, ln_final.*, text_projection) and the metadata, atomically: a temporary file,
// then rename, so no half-written file ever carries the final name. InputError when `path`
// cannot be written.
void save_classifier(const std::filesystem::path& path, const ClipModel& model,
                     const FaceSet& data, const Split& split, const TrainOptions& options,
                     const TrainReport& report, std::uint64_t base_seed = 0);

// Reads only the metadata (cheap; validates the file's structure). ModelError naming the file
// when it is truncated or not a clipface classifier.
ClassifierInfo read_classifier_info(const std::filesystem::path& path);

struct PromptDecision {
  std::string label;        // class name, or "Unknown" below the minimum confidence
  std::string best;         // most likely class whatever the confidence
  int class_index = -1;     // of `best`
  float confidence = 0;     // softmax over classes of the scaled logits, for `best`
  bool known() const { return class_index >= 0 && label == best; }
};

class PromptClassifier {
 public:
  // Loads the base model recorded in the file (or `base_model`: a weight file, or "" for the
  // recorded one), checks it is the base the file was trained on, and encodes the class prompts
  // with the trained text tower. ModelError when the base differs (sha256 or fingerprint).
  static PromptClassifier load(const std::filesystem::path& file,
                               const std::string& base_model = "");
  // Same over an already loaded base; `base` is left exactly as it was.
  static PromptClassifier load(const std::filesystem::path& file, ClipModel& base);
  // From weights in memory (after train_prompts, before or without saving).
  static PromptClassifier from_report(const TrainReport& report, ClassifierInfo info);
  // The same with the info of that training (classes, template, loss, accuracies).
  static PromptClassifier from_training(const TrainReport& report, const FaceSet& data,
                                        const TrainOptions& options);

  const ClassifierInfo& info() const { return info_; }
  const std::vector<std::string>& classes() const { return info_.classes; }
  const Matrix& class_embeddings() const { return class_embeddings_; }
  float logit_scale() const { return logit_scale_; }

  // Scaled logits and their softmax, one row per image embedding (unit rows).
  Matrix logits(const Matrix& embeddings) const;
  Matrix probabilities(const Matrix& embeddings) const;
  std::vector<PromptDecision> classify(const Matrix& embeddings,
                                       float min_confidence = kDefaultMinConfidence) const;
  // The same as gallery Decisions (label, score = confidence, nearest = most likely class), so
  // `identify --classifier` can hand it to Recognizer::set_namer.
  std::vector<Decision> decide(const Matrix& embeddings,
                               float min_confidence = kDefaultMinConfidence) const;
  // ModelError unless the embedder produces the space this classifier was trained in (same
  // base checksum and crop style), so `identify --classifier` cannot mix spaces.
  void check_space(const EmbedderInfo& embedder) const;

 private:
  ClassifierInfo info_;
  Matrix class_embeddings_;
  float logit_scale_ = 100.0f;
};

// Fails early (InputError "cannot write FILE: ...") when a result file cannot be created there:
// a missing or read-only folder, or a folder in the way.
void check_writable(const std::filesystem::path& file);

// A classifier file with its base model and detector: names every face of an image the way the
// training faces were made (detect + align, or the whole image as a crop).
struct ClassifiedFace {
  Face face;  // box and landmarks in the image (the whole image for crops, score 0)
  PromptDecision decision;
};
class FaceClassifier {
 public:
  // base_model: weight file, or "" for the one recorded in the file. `cropped`: treat images as
  // ready crops (default: as the classifier was trained).
  FaceClassifier(const std::filesystem::path& file, const std::string& base_model = "",
                 const DetectorOptions& detector = {}, std::optional<bool> cropped = {});
  ~FaceClassifier();
  FaceClassifier(FaceClassifier&&) noexcept;

  std::vector<ClassifiedFace> classify(const cv::Mat& image,
                                       float min_confidence = kDefaultMinConfidence) const;
  const PromptClassifier& classifier() const { return classifier_; }
  const ClipModel& base() const { return *base_; }
  bool cropped() const { return cropped_; }

 private:
  std::unique_ptr<ClipModel> base_;
  PromptClassifier classifier_;
  std::unique_ptr<Detector> detector_;
  bool cropped_ = false;
  CropStyle crop_style_ = CropStyle::loose;
};

// Open-set evaluation of a prompt classifier, the deployment test of the paper's Table I:
// faces of enrolled people (trained classes, images not used for training) and faces of people
// never seen in training, scored by the one definition of clipface/open_set.hpp (accuracy, FPR =
// FPIR, FNR = FNIR with misnamed faces counted as missed, misidentification apart). A decision is
// accepted when its confidence (softmax probability of the most likely class) reaches
// min_confidence. `eval openset --classifier prompts` and `eval prompts` score the same way.
struct OpenSetResult {
  OpenSetPoint point;              // counts and rates at min_confidence
  double closed_set_accuracy = 0;  // top-1 of enrolled faces ignoring the threshold
  double training_accuracy = 0;    // closed-set top-1 on the training split (from the classifier)
};

// The faces of an open-set test.
struct OpenSetProbes {
  Matrix enrolled;                           // faces of trained people, not trained on
  std::vector<std::string> enrolled_labels;  // their class names
  Matrix strangers;                          // faces of people never trained
};

// A name in enrolled_labels the classifier does not know is an InputError. Either set may be
// empty (its rates are then 0).
OpenSetResult evaluate_open_set(const PromptClassifier& classifier, const OpenSetProbes& probes,
                                float min_confidence = kDefaultMinConfidence);

// The prompt / loss study: fine-tunes once per variant from the same base weights, on the same
// split, and evaluates each (closed set on validation; open set on `probes` when given). The
// model's text tower is back to the base weights afterwards.
struct StudyRow {
  TrainOptions options;
  TrainReport report;
  std::optional<OpenSetResult> open_set;
};
std::vector<StudyRow> run_study(ClipModel& model, const FaceSet& data, const Split& split,
                                const std::vector<TrainOptions>& variants,
                                const OpenSetProbes* probes = nullptr,
                                float min_confidence = kDefaultMinConfidence);

}  // namespace finetune
}  // namespace clipface
