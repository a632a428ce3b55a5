// One call per protocol for the CLI (and for `eval compare`): embeds the folder (cached), runs the
// protocol, and returns the printed table, the JSON, a short metric summary and, on request, an
// HTML report with charts. Every output of a random-weight model carries kRandomWeightsWarning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/cluster.hpp"
#include "clipface/embedder.hpp"
#include "clipface/eval/dataset.hpp"
#include "clipface/eval/grid.hpp"
#include "clipface/finetune.hpp"

namespace clipface::eval {

struct ProtocolOptions {
  std::string embedder_spec = "dlib";
  EmbedderOptions embedder;
  EmbedSettings embed;
  std::uint64_t seed = 0;
  std::filesystem::path report_dir;        // "" = no report
  std::filesystem::path output_dir = ".";  // where grid_search_results.csv goes
  std::size_t max_people = 0;              // use only the first N people (sorted); 0 = all
  // grid
  double enroll_fraction = 0.5;
  double unknown_fraction =
      0.0;  // share of people never enrolled (their images query as strangers)
  GridSpec grid;
  // openset and prompts
  double known_fraction = 0.5;
  // Images enrolled per known person. Unset: 1 for the kNN classifier, train_fraction of each
  // known person's images for the prompt classifier.
  std::optional<int> shots;
  float confidence_threshold = 0.80f;
  // openset (kNN): also the gallery vote calibrated for this FAR on the enrolled faces and half
  // of the never-enrolled people, scored on the genuine probes and the other half
  double calibrate_far = 0.01;
  std::string classifier = "knn";  // openset: knn (gallery vote) | prompts (fine-tuned text tower)
  // prompt classifier (openset --classifier prompts, and prompts): the paper's 80/20 split of each
  // known person's images (train / genuine probes), then the fine-tuning's own validation share
  // of the training images for the best epoch.
  double train_fraction = 0.8;
  double validation_fraction = 0.2;
  finetune::TrainOptions training;  // template, loss, epochs, learning rate, ...
  // prompts: the study fine-tunes every template x loss from the same base, on the same split.
  std::vector<std::string> templates;  // empty = finetune::kStudyTemplates
  std::vector<finetune::Loss> losses;  // empty = training.loss
  // Open set: nearest neighbour (k1 = k2 = 1; with one shot per person any larger k ties) and
  // every neighbour may vote (threshold 2.0), so that the confidence threshold alone rejects.
  KnnVote openset_rule{1, 1, 2.0f};
  // Overrides of the vote rule, applied to openset_rule and to the scale rule (whose defaults are
  // default_vote(embedder info)).
  std::optional<int> k1, k2;
  std::optional<float> threshold;
  std::vector<std::size_t> people_counts;  // scale; empty = 5, 10, 20, ..., all
  // verify
  std::filesystem::path pairs;        // View 2 pairs.txt, or View 1 pairsDevTest.txt
  std::filesystem::path train_pairs;  // View 1: pairsDevTrain.txt (found beside `pairs` if empty)
  std::size_t max_pairs =
      0;  // View 1: the first N/2 same and N/2 different pairs of each file; 0 = all
  // cluster: ours (radius 0 = from the embedder's default vote), peers at their defaults
  ClusterOptions cluster;
};

struct ProtocolOutput {
  std::string protocol;
  std::string embedder;  // EmbedderInfo::name
  std::string warning;   // kRandomWeightsWarning or ""
  nlohmann::json json;
  std::string text;                                          // the printed tables
  std::vector<std::pair<std::string, std::string>> summary;  // metric -> formatted value
  std::filesystem::path report;                              // index.html when a report was written
  std::vector<EmbedFailure> failures;  // images without an embedding (the CLI's skipped inputs)
  std::size_t images = 0;              // images the protocol looked at
};

// "retrieval", "grid", "openset", "verify", "scale", "prompts", "cluster".
const std::vector<std::string>& protocol_names();

// InputError for an unknown protocol, an unknown classifier, the prompt classifier without a CLIP
// embedder or a bad training option: what can be told before any model is loaded. run_protocol
// calls it first; `eval compare` calls it for every embedder before running any.
void check_options(const std::string& protocol, const ProtocolOptions& options);

// Makes the embedder and detector from the options, then runs the protocol.
ProtocolOutput run_protocol(const std::string& protocol, const std::filesystem::path& dir,
                            const ProtocolOptions& options);
// The same with a given embedder and detector (tests, callers that reuse models).
ProtocolOutput run_protocol(const std::string& protocol, const std::filesystem::path& dir,
                            const ProtocolOptions& options, const Embedder& embedder,
                            const Detector& detector);

// Rows = metrics, columns = the runs (one per embedder), as printed by `eval compare`.
std::string side_by_side(const std::vector<ProtocolOutput>& runs);

// A plain text table with aligned columns.
std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

}  // namespace clipface::eval
