#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

namespace clipface {

FacePipeline::FacePipeline(const PipelineOptions& options)
    : FacePipeline(make_detector(options.detector),
                   make_embedder(options.embedder, options.embedder_options)) {}

FacePipeline::FacePipeline(std::unique_ptr<Detector> detector, std::unique_ptr<Embedder> embedder)
    : detector_(std::move(detector)), embedder_(std::move(embedder)) {}

ImageFaces FacePipeline::process(const cv::Mat& image) const {
  ImageFaces out;
  out.size = image.size();
  out.faces = detector_->detect(image);
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
