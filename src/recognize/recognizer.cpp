#include "clipface/recognizer.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"

namespace clipface {

Recognizer::Recognizer(const Gallery& gallery, const FacePipeline& pipeline, KnnVote rule)
    : gallery_(gallery), pipeline_(pipeline), rule_(rule) {
  gallery.require_model(pipeline.embedder().info());
  validate(rule_);
}

Identification Recognizer::identify(const cv::Mat& image) const {
  ImageFaces found = pipeline_.process(image);
  Identification out;
  out.size = found.size;
  if (found.faces.empty()) return out;
  auto neighbours = gallery_.search(found.embeddings, rule_.k2);
  std::vector<Decision> decisions;
  if (namer_) {
    decisions = namer_(found.embeddings);
  } else {
    for (const auto& list : neighbours) decisions.push_back(decide(rule_, list));
  }
  for (std::size_t i = 0; i < found.faces.size(); ++i) {
    const auto row = found.embeddings.row(i);
    NamedFace named{found.faces[i],
                    decisions.at(i),
                    std::move(neighbours[i]),
                    std::move(found.crops[i]),
                    found.quality.at(i),
                    std::vector<float>(row.begin(), row.end()),
                    {}};
    if (!found.analysis.empty()) {
      named.analysis = std::move(found.analysis[i]);
      if (named.analysis.is_spoof()) {  // never named, not even as a near miss
        named.decision = Decision{};
        named.decision.label = kSpoof;
        named.neighbours.clear();
      }
    }
    out.faces.push_back(std::move(named));
  }
  return out;
}

Identification Recognizer::identify_file(const std::filesystem::path& path) const {
  Identification out = identify(load_image(path));
  out.path = path;
  return out;
}

}  // namespace clipface
