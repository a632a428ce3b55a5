#include <algorithm>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {

Recognizer::Recognizer(const Gallery& gallery, const FacePipeline& pipeline, KnnVote rule)
    : search_([&gallery](const Matrix& q, int k) { return gallery.search(q, k); }),
      pipeline_(pipeline),
      rule_(rule) {
  gallery.require_model(pipeline.embedder().info());
  validate(rule_);
}

Recognizer::Recognizer(std::shared_ptr<const GallerySnapshot> snapshot,
                       const FacePipeline& pipeline, KnnVote rule)
    : pipeline_(pipeline), rule_(rule) {
  if (!snapshot->model().same_space(pipeline.embedder().info())) {
    throw GalleryError("model mismatch: the gallery holds embeddings of " + snapshot->model().name +
                       ", not " + pipeline.embedder().info().name);
  }
  validate(rule_);
  search_ = [snapshot = std::move(snapshot)](const Matrix& q, int k) {
    return snapshot->search(q, k);
  };
}

Identification Recognizer::identify(const cv::Mat& image, const FaceFilter& filter,
                                    int neighbours) const {
  ImageFaces found = pipeline_.process(image, filter);
  Identification out;
  out.size = found.size;
  if (found.faces.empty()) return out;
  auto nearest = search_(found.embeddings, std::max(rule_.k2, neighbours));
  std::vector<Decision> decisions;
  if (namer_) {
    decisions = namer_(found.embeddings);
  } else {
    for (const auto& list : nearest) decisions.push_back(decide(rule_, list));
  }
  for (std::size_t i = 0; i < found.faces.size(); ++i) {
    const auto row = found.embeddings.row(i);
    NamedFace named{found.faces[i],
                    decisions.at(i),
                    std::move(nearest[i]),
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
