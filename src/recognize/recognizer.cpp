#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

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
    out.faces.push_back({found.faces[i], decisions.at(i), std::move(neighbours[i]),
                         std::move(found.crops[i]), found.quality.at(i),
                         std::vector<float>(row.begin(), row.end())});
  }
  return out;
}

Identification Recognizer::identify_file(const std::filesystem::path& path) const {
  Identification out = identify(load_image(path));
  out.path = path;
  return out;
}

}  // namespace clipface
