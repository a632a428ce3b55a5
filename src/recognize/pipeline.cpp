#include <algorithm>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {

namespace {

std::unique_ptr<FaceAnalyzer> make_analyzer(const PipelineOptions& options) {
  if (!options.analysis.enabled()) return nullptr;
  AnalysisOptions analysis = options.analysis;
  analysis.runtime = options.embedder_options.runtime;
  return std::make_unique<FaceAnalyzer>(analysis);
}

}  // namespace

void filter_faces(std::vector<Face>& faces, const FaceFilter& filter) {
  std::erase_if(faces, [&](const Face& f) { return f.score < filter.min_score; });
  if (filter.max_faces > 0 && faces.size() > static_cast<std::size_t>(filter.max_faces)) {
    std::stable_sort(faces.begin(), faces.end(),
                     [](const Face& a, const Face& b) { return a.box.area() > b.box.area(); });
    faces.resize(static_cast<std::size_t>(filter.max_faces));
  }
}

FacePipeline::FacePipeline(const PipelineOptions& options)
    : FacePipeline(make_detector(options.detector),
                   make_embedder(options.embedder, options.embedder_options),
                   make_analyzer(options)) {}

FacePipeline::FacePipeline(std::unique_ptr<Detector> detector, std::unique_ptr<Embedder> embedder,
                           std::unique_ptr<FaceAnalyzer> analyzer)
    : detector_(std::move(detector)),
      embedder_(std::move(embedder)),
      analyzer_(std::move(analyzer)) {}

ImageFaces FacePipeline::process(const cv::Mat& image, const FaceFilter& filter) const {
  ImageFaces out;
  out.size = image.size();
  out.faces = detector_->detect(image);
  filter_faces(out.faces, filter);
  if (analyzer_) out.analysis = analyzer_->analyze(image, out.faces);
  out.crops = embedder_->crops(image, out.faces);
  out.embeddings = out.crops.empty() ? Matrix(0, static_cast<std::size_t>(embedder_->info().dim))
                                     : embedder_->embed_crops(out.crops);
  for (const Face& face : out.faces) out.quality.push_back(measure_quality(image, face));
  return out;
}

ImageFaces FacePipeline::process_file(const std::filesystem::path& path) const {
  ImageFaces out = process(load_image(path));
  out.path = path;
  return out;
}

}  // namespace clipface
