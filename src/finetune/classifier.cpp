// The classifier file (safetensors: trained text tower + metadata), PromptClassifier and the
// open-set evaluation.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "clip/engine.hpp"
#include "clip/weights.hpp"
#include "clipface/checksum.hpp"
#include "clipface/embedder.hpp"
#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "finetune/internal.hpp"
#include "finetune/text_tower.hpp"

namespace clipface::finetune {
namespace fs = std::filesystem;
using nlohmann::json;

inline constexpr const char* kFormat = "clipface-prompt-classifier";
inline constexpr const char* kFormatVersion = "1";

namespace detail {

std::string base_fingerprint(const ClipModel& model) {
  auto& net = *model.impl().net;
  torch::NoGradGuard no_grad;
  torch::Tensor t;
  if (net.vit) {
    t = net.vit->proj;
  } else {
    t = net.resnet->attnpool->c_proj->weight;
  }
  t = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return sha256_hex(std::string_view(static_cast<const char*>(t.data_ptr()),
                                     static_cast<std::size_t>(t.numel()) * sizeof(float)));
}

}  // namespace detail

namespace {

std::string settings_json(const TrainOptions& o) {
  json j = {{"prompt_template", o.prompt_template},
            {"epochs", o.epochs},
            {"batch_size", o.batch_size},
            {"learning_rate", o.learning_rate},
            {"lr_schedule", "cosine annealing to 0 over all steps, stepped per step"},
            {"optimizer", "AdamW"},
            {"weight_decay", o.weight_decay},
            {"betas", {o.beta1, o.beta2}},
            {"eps", o.eps},
            {"loss", to_string(o.loss)},
            {"arcface_margin", o.arcface_margin},
            {"arcface_scale", o.arcface_scale},
            {"triplet_margin", o.triplet_margin},
            {"truncate_context", o.truncate_context},
            {"keep_best", o.keep_best}};
  return j.dump();
}

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw ModelError(path.string() + ": " + what);
}

// Header of a safetensors file, checked against the file size (truncation shows here).
json read_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open classifier file");
  std::error_code ec;
  const std::uint64_t size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read classifier file size");
  if (size < 8) fail(path, "truncated classifier file (" + std::to_string(size) + " bytes)");
  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  if (header_length > size - 8) {
    fail(path, "truncated classifier file: the header needs " + std::to_string(header_length) +
                   " bytes but the file has " + std::to_string(size));
  }
  std::string text(header_length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_length));
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception&) {
    fail(path, "not a classifier file (safetensors header is not JSON)");
  }
  if (!header.is_object()) fail(path, "not a classifier file (safetensors header)");
  std::uint64_t data_end = 0;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    if (!entry.is_object() || !entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2) {
      fail(path, "tensor '" + name + "' has no data_offsets");
    }
    data_end = std::max(data_end, entry["data_offsets"][1].get<std::uint64_t>());
  }
  if (8 + header_length + data_end > size) {
    fail(path, "truncated classifier file: " + std::to_string(size) + " bytes, the header says " +
                   std::to_string(8 + header_length + data_end));
  }
  return header;
}

std::string meta(const json& m, const char* key, const fs::path& path) {
  if (!m.contains(key) || !m[key].is_string()) fail(path, std::string("metadata lacks ") + key);
  return m[key].get<std::string>();
}

double meta_number(const json& m, const char* key, const fs::path& path) {
  const std::string s = meta(m, key, path);
  try {
    return std::stod(s);
  } catch (const std::exception&) {
    fail(path, std::string("metadata ") + key + " is not a number: " + s);
  }
}

std::string short_sha(const std::string& sha) { return sha.empty() ? "none" : sha.substr(0, 12); }

}  // namespace

void save_classifier(const fs::path& path, const ClipModel& model, const FaceSet& data,
                     const Split& split, const TrainOptions& options, const TrainReport& report,
                     std::uint64_t base_seed) {
  const ClipInfo& base = model.info();
  std::map<std::string, std::string> metadata{
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"classes", json(data.classes).dump()},
      {"prompt_template", options.prompt_template},
      {"base_name", base.name},
      {"base_path", base.path.empty() ? "" : fs::absolute(base.path).string()},
      {"base_sha256", base.sha256},
      {"base_fingerprint", detail::base_fingerprint(model)},
      {"base_architecture", base.random_weights ? base.name : ""},
      {"base_seed", std::to_string(base_seed)},
      {"random_weights", base.random_weights ? "true" : "false"},
      {"crop_style", to_string(data.crop_style)},
      {"cropped", data.cropped ? "true" : "false"},
      {"resize", "squash"},
      {"loss", to_string(options.loss)},
      {"settings", settings_json(options)},
      {"split_seed", std::to_string(split.seed)},
      {"validation_fraction", std::to_string(split.validation_fraction)},
      {"train_accuracy", std::to_string(report.train_accuracy)},
      {"validation_accuracy", std::to_string(report.validation_accuracy)},
      {"initial_validation_accuracy", std::to_string(report.initial_validation_accuracy)},
      {"best_epoch", std::to_string(report.best_epoch)},
      {"epochs_run", std::to_string(report.epochs.size())},
      {"train_images", std::to_string(split.train.size())},
      {"validation_images", std::to_string(split.validation.size())},
  };
  if (base.random_weights) metadata["warning"] = "RANDOM WEIGHTS: plumbing only, not accuracy";

  // safetensors: 8-byte little-endian header length, JSON header, then the raw data. Every tensor
  // is float32, so 4-byte alignment holds after the 8-byte-padded header.
  auto& net = *model.impl().net;
  std::map<std::string, torch::Tensor> tensors;
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : detail::text_tower_tensors(net)) {
      tensors[name] = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    }
  }
  json header = json::object();
  header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const auto bytes = static_cast<std::uint64_t>(t.numel()) * sizeof(float);
    header[name] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string file;
  file.reserve(8 + text.size() + offset);
  const std::uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  file += text;
  for (const auto& [name, t] : tensors) {
    file.append(static_cast<const char*>(t.data_ptr()),
                static_cast<std::size_t>(t.numel()) * sizeof(float));
  }
  write_file_atomically(path, file);
}

ClassifierInfo read_classifier_info(const fs::path& path) {
  const json header = read_header(path);
  if (!header.contains("__metadata__") || !header["__metadata__"].is_object()) {
    fail(path, "not a clipface prompt classifier (no metadata)");
  }
  const json& m = header["__metadata__"];
  if (!m.contains("format") || m["format"] != kFormat) {
    fail(path, "not a clipface prompt classifier (a safetensors file of another kind)");
  }
  ClassifierInfo info;
  try {
    info.classes = json::parse(meta(m, "classes", path)).get<std::vector<std::string>>();
  } catch (const json::exception&) {
    fail(path, "metadata classes is not a list of names");
  }
  info.prompt_template = meta(m, "prompt_template", path);
  info.base_name = meta(m, "base_name", path);
  info.base_path = meta(m, "base_path", path);
  info.base_sha256 = meta(m, "base_sha256", path);
  info.base_fingerprint = meta(m, "base_fingerprint", path);
  info.base_architecture = meta(m, "base_architecture", path);
  info.base_seed = static_cast<std::uint64_t>(meta_number(m, "base_seed", path));
  info.random_weights = meta(m, "random_weights", path) == "true";
  info.crop_style = meta(m, "crop_style", path);
  info.cropped = meta(m, "cropped", path) == "true";
  info.loss = meta(m, "loss", path);
  info.settings_json = meta(m, "settings", path);
  info.split_seed = static_cast<std::uint64_t>(meta_number(m, "split_seed", path));
  info.train_accuracy = meta_number(m, "train_accuracy", path);
  info.validation_accuracy = meta_number(m, "validation_accuracy", path);
  info.best_epoch = static_cast<int>(meta_number(m, "best_epoch", path));
  info.train_images = static_cast<std::size_t>(meta_number(m, "train_images", path));
  info.validation_images = static_cast<std::size_t>(meta_number(m, "validation_images", path));
  if (info.classes.size() < 2) fail(path, "a classifier needs at least two classes");
  return info;
}

// ---------------------------------------------------------------------------------------------

PromptClassifier PromptClassifier::load(const fs::path& file, const std::string& base_model) {
  const ClassifierInfo info = read_classifier_info(file);
  std::string base = base_model.empty() ? info.base_path : base_model;
  ClipModel model = [&] {
    if (base.empty()) {
      if (!info.random_weights) fail(file, "records no base model path; give the base model");
      return ClipModel::random(info.base_architecture, {}, info.base_seed);
    }
    return ClipModel::load(base);
  }();
  return load(file, model);
}

PromptClassifier PromptClassifier::load(const fs::path& file, ClipModel& base) {
  ClassifierInfo info = read_classifier_info(file);
  const ClipInfo& given = base.info();
  const bool same = info.random_weights
                        ? (given.random_weights && given.name == info.base_architecture)
                        : given.sha256 == info.base_sha256;
  if (!same || detail::base_fingerprint(base) != info.base_fingerprint) {
    fail(file, "was trained over base model '" + info.base_name + "' (sha256 " +
                   short_sha(info.base_sha256) + "), not over '" + given.name + "' (sha256 " +
                   short_sha(given.sha256) + "); load it with its own base model");
  }
  clip::SafetensorsFile stored = clip::read_safetensors(file);
  auto& impl = base.impl();
  auto tower = detail::text_tower_tensors(*impl.net);
  if (stored.tensors.size() != tower.size()) {
    fail(file, "holds " + std::to_string(stored.tensors.size()) + " tensors, the text tower has " +
                   std::to_string(tower.size()));
  }
  for (const auto& [name, live] : tower) {
    auto it = stored.tensors.find(name);
    if (it == stored.tensors.end()) fail(file, "lacks tensor '" + name + "'");
    if (it->second.sizes() != live.sizes()) fail(file, "tensor '" + name + "' has another shape");
  }
  // Swap the trained tensors in, encode the prompts, and put the base's own tensors back.
  const torch::Tensor tokens = detail::prompt_tokens(base, info.classes, info.prompt_template);
  std::vector<torch::Tensor> originals;
  Matrix embeddings;
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, live] : tower) {
      originals.push_back(live.data());
      live.set_data(stored.tensors.at(name).to(impl.device));
    }
    try {
      embeddings = detail::class_embeddings(base, tokens);
    } catch (...) {
      for (std::size_t i = 0; i < tower.size(); ++i) tower[i].second.set_data(originals[i]);
      throw;
    }
    for (std::size_t i = 0; i < tower.size(); ++i) tower[i].second.set_data(originals[i]);
  }
  PromptClassifier classifier;
  classifier.info_ = std::move(info);
  classifier.class_embeddings_ = std::move(embeddings);
  classifier.logit_scale_ = base.logit_scale();
  return classifier;
}

PromptClassifier PromptClassifier::from_report(const TrainReport& report, ClassifierInfo info) {
  if (report.class_embeddings.rows != info.classes.size()) {
    throw InputError("classifier: " + std::to_string(report.class_embeddings.rows) +
                     " prompt embeddings for " + std::to_string(info.classes.size()) + " classes");
  }
  PromptClassifier classifier;
  classifier.info_ = std::move(info);
  classifier.class_embeddings_ = report.class_embeddings;
  classifier.logit_scale_ = report.logit_scale;
  return classifier;
}

PromptClassifier PromptClassifier::from_training(const TrainReport& report, const FaceSet& data,
                                                 const TrainOptions& options) {
  ClassifierInfo info;
  info.classes = data.classes;
  info.prompt_template = options.prompt_template;
  info.loss = to_string(options.loss);
  info.random_weights = report.random_weights;
  info.cropped = data.cropped;
  info.crop_style = to_string(data.crop_style);
  info.train_accuracy = report.train_accuracy;
  info.validation_accuracy = report.validation_accuracy;
  info.best_epoch = report.best_epoch;
  return from_report(report, std::move(info));
}

Matrix PromptClassifier::logits(const Matrix& embeddings) const {
  if (embeddings.rows > 0 && embeddings.cols != class_embeddings_.cols) {
    throw InputError("classifier expects " + std::to_string(class_embeddings_.cols) +
                     "-d embeddings, got " + std::to_string(embeddings.cols));
  }
  Matrix out(embeddings.rows, class_embeddings_.rows);
  for (std::size_t i = 0; i < embeddings.rows; ++i) {
    for (std::size_t c = 0; c < class_embeddings_.rows; ++c) {
      out.at(i, c) = logit_scale_ * dot(embeddings.row(i), class_embeddings_.row(c));
    }
  }
  return out;
}

Matrix PromptClassifier::probabilities(const Matrix& embeddings) const {
  Matrix p = logits(embeddings);
  for (std::size_t i = 0; i < p.rows; ++i) {
    auto row = p.row(i);
    const float top = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (float& v : row) {
      v = std::exp(v - top);
      sum += v;
    }
    for (float& v : row) v = static_cast<float>(v / sum);
  }
  return p;
}

std::vector<PromptDecision> PromptClassifier::classify(const Matrix& embeddings,
                                                       float min_confidence) const {
  const Matrix p = probabilities(embeddings);
  std::vector<PromptDecision> out(p.rows);
  for (std::size_t i = 0; i < p.rows; ++i) {
    const auto row = p.row(i);
    const auto best = std::max_element(row.begin(), row.end()) - row.begin();
    PromptDecision& d = out[i];
    d.class_index = static_cast<int>(best);
    d.best = info_.classes[static_cast<std::size_t>(best)];
    d.confidence = row[static_cast<std::size_t>(best)];
    d.label = d.confidence >= min_confidence ? d.best : "Unknown";
  }
  return out;
}

void PromptClassifier::check_space(const EmbedderInfo& embedder) const {
  const bool same_base = info_.random_weights ? embedder.random_weights
                                              : embedder.checksum == info_.base_sha256;
  if (!same_base || embedder.dim != static_cast<int>(class_embeddings_.cols)) {
    throw ModelError("prompt classifier was trained over '" + info_.base_name + "' (sha256 " +
                     short_sha(info_.base_sha256) + "), the embedder is '" + embedder.name +
                     "' (sha256 " + short_sha(embedder.checksum) + ")");
  }
  if (!info_.cropped && embedder.crop_style != info_.crop_style) {
    throw ModelError("prompt classifier was trained on " + info_.crop_style +
                     " crops, the embedder makes " + embedder.crop_style + " crops");
  }
}

// ---------------------------------------------------------------------------------------------

OpenSetResult evaluate_open_set(const PromptClassifier& classifier, const OpenSetProbes& probes,
                                float min_confidence) {
  if (probes.enrolled.rows != probes.enrolled_labels.size()) {
    throw InputError("open-set evaluation: " + std::to_string(probes.enrolled.rows) +
                     " enrolled embeddings for " + std::to_string(probes.enrolled_labels.size()) +
                     " labels");
  }
  const auto& classes = classifier.classes();
  for (const auto& label : probes.enrolled_labels) {
    if (std::find(classes.begin(), classes.end(), label) == classes.end()) {
      throw InputError("open-set evaluation: '" + label +
                       "' is not a class of this classifier (enrolled faces must be of trained "
                       "people; put others among the strangers)");
    }
  }
  // Every probe answers with its most likely class; the shared definition applies the threshold.
  std::vector<Prediction> predictions;
  std::size_t top1 = 0;
  for (const auto& d : classifier.classify(probes.enrolled, min_confidence)) {
    top1 += d.best == probes.enrolled_labels[predictions.size()];
    predictions.push_back({d.best, d.confidence});
  }
  for (const auto& d : classifier.classify(probes.strangers, min_confidence)) {
    predictions.push_back({d.best, d.confidence});
  }
  std::vector<std::string> truth = probes.enrolled_labels;
  truth.resize(predictions.size());  // strangers: ""
  OpenSetResult r;
  r.point = clipface::evaluate_open_set(predictions, truth, min_confidence);
  r.training_accuracy = classifier.info().train_accuracy;
  const std::size_t enrolled = probes.enrolled_labels.size();
  r.closed_set_accuracy = enrolled ? double(top1) / double(enrolled) : 0.0;
  return r;
}

}  // namespace clipface::finetune
