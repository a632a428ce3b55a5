#include "clipface/eval/prompt_openset.hpp"

#include <map>

#include "clipface/align.hpp"
#include "clipface/errors.hpp"
#include "clipface/eval/neighbours.hpp"
#include "clipface/paths.hpp"

namespace clipface::eval {

PromptIdentityClassifier::PromptIdentityClassifier(finetune::PromptClassifier classifier)
    : classifier_(std::move(classifier)) {}

std::string PromptIdentityClassifier::name() const {
  const auto& info = classifier_.info();
  return "prompts(\"" + info.prompt_template + "\", " + info.loss + ", " +
         std::to_string(info.classes.size()) + " people)";
}

std::string PromptIdentityClassifier::confidence_meaning() const {
  return kPromptConfidenceMeaning;
}

std::vector<Prediction> PromptIdentityClassifier::predict(const Matrix& embeddings) const {
  std::vector<Prediction> out;
  for (const auto& d : classifier_.classify(embeddings, 0.0f))
    out.push_back({d.best, d.confidence});
  return out;
}

namespace {

std::pair<std::string, std::string> split_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

}  // namespace

void require_clip_spec(const std::string& spec, const std::string& who) {
  const auto [kind, argument] = split_spec(spec);
  if ((kind != "clip" && kind != "clip-random") || argument.empty()) {
    throw InputError(who +
                     " fine-tunes CLIP's text tower: give a CLIP embedder (--embedder "
                     "clip:<file> or clip-random:<arch>), not '" +
                     spec + "'");
  }
}

std::shared_ptr<ClipModel> clip_model_for(const std::string& spec, const Embedder& embedder,
                                          const RuntimeOptions& runtime) {
  require_clip_spec(spec);
  if (auto shared = embedder.clip_model()) return shared;
  return std::make_shared<ClipModel>(load_clip_model(spec, embedder.info(), runtime));
}

ClipModel load_clip_model(const std::string& spec, const EmbedderInfo& embedder,
                          const RuntimeOptions& runtime) {
  require_clip_spec(spec);
  const auto [kind, argument] = split_spec(spec);
  ClipLoadOptions options;
  options.runtime = runtime;
  // As make_embedder resolves the spec (clip_embedder.cpp): same file, same random seed.
  ClipModel model = kind == "clip" ? ClipModel::load(find_model_file(argument).string(), options)
                                   : ClipModel::random(argument, options);
  const ClipInfo& info = model.info();
  const std::string name = (info.random_weights ? "clip-random:" : "clip:") + info.name;
  if (name != embedder.name || info.sha256 != embedder.checksum || info.embed_dim != embedder.dim) {
    throw ModelError("embedder spec '" + spec + "' loads '" + name +
                     "', not the model behind the embedder ('" + embedder.name + "')");
  }
  return model;
}

PromptData prompt_data(const Matrix& embeddings, const std::vector<int>& labels,
                       const std::vector<std::string>& names, const OpenSetSplit& split,
                       const EmbedderInfo& embedder, std::uint64_t seed,
                       double validation_fraction) {
  if (split.known_people.size() < 2) {
    throw InputError("the prompt classifier needs at least two enrolled people to contrast (" +
                     std::to_string(split.known_people.size()) + " of " +
                     std::to_string(names.size()) + (names.size() == 1 ? " person" : " people") +
                     " enrolled): use more people or a larger --known-fraction");
  }
  PromptData data;
  finetune::FaceSet& set = data.training;
  std::map<int, int> class_of;  // person id -> class index (names are sorted, so classes are)
  for (int person : split.known_people) {
    class_of[person] = static_cast<int>(set.classes.size());
    set.classes.push_back(names[static_cast<std::size_t>(person)]);
  }
  set.embeddings = select_rows(embeddings, split.enrolled);
  for (std::size_t row : split.enrolled) set.labels.push_back(class_of.at(labels[row]));
  set.paths.assign(split.enrolled.size(), "");
  // "loose+flip" -> loose: the style is only recorded, the flip is in the embeddings already.
  set.crop_style = parse_crop_style(embedder.crop_style.substr(0, embedder.crop_style.find('+')));
  data.fit = finetune::split_per_person(set.labels, seed, validation_fraction);
  data.probes.enrolled = select_rows(embeddings, split.genuine);
  for (std::size_t row : split.genuine) {
    data.probes.enrolled_labels.push_back(names[static_cast<std::size_t>(labels[row])]);
  }
  data.probes.strangers = select_rows(embeddings, split.impostor);
  return data;
}

}  // namespace clipface::eval
