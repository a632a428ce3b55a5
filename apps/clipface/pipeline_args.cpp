#include "pipeline_args.hpp"

#include <filesystem>

#include "clipface/paths.hpp"

namespace clipface::app {

void PipelineArgs::add_to(CLI::App& app) {
  app.add_option("--detector", detector, "face detector: yunet | scrfd")
      ->check(CLI::IsMember({"yunet", "scrfd"}));
  app.add_option("--detector-model", detector_model, "detector model file (default per detector)");
  app.add_option("--score", score_threshold, "detector score threshold")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-face", min_face, "smallest face side in pixels");
  app.add_option("--max-faces", max_faces, "keep at most this many faces per image (0 = all)");
  app.add_option("--embedder", embedder,
                 "dlib | mobilefacenet | mobileface | faceres | clip:<model file or name> | "
                 "clip-random:<arch> (random weights)");
  app.add_option("--crop-style", crop_style, "tight | loose (CLIP and TF.js embedders)")
      ->check(CLI::IsMember({"tight", "loose"}));
  app.add_option("--device", device, "cpu | cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--precision", precision,
                 "auto (bf16 where the CPU has native bf16, else fp32) | fp32 | bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  app.add_option("--threads", threads, "CPU threads (0 = all cores)");
  app.add_flag("--flip", flip, "also embed the mirrored face and average (test-time flip)");
}

void PipelineArgs::add_analysis_to(CLI::App& app, bool with_attributes) {
  app.add_option("--antispoof", antispoof,
                 "anti-spoofing gate: a face whose real score (0..1) is below this is reported "
                 "as a spoof and never named or enrolled")
      ->check(CLI::Range(0.0, 1.0));
  if (with_attributes) {
    app.add_option("--attributes", attributes,
                   "per-face attributes, any of age,gender,emotion (comma-separated)");
  }
}

PipelineOptions PipelineArgs::options(const std::string& fallback_embedder,
                                      const std::string& fallback_crop_style) const {
  PipelineOptions o;
  o.detector.kind = detector;
  o.detector.model = detector_model;
  o.detector.score_threshold = score_threshold;
  o.detector.min_face_size = min_face;
  o.detector.max_faces = max_faces;
  // The fallback crop style belongs to the fallback embedder (a gallery's model); another
  // embedder given on the command line keeps its own default.
  o.embedder = embedder.empty() ? fallback_embedder : embedder;
  o.embedder_options.crop_style =
      crop_style.empty() && embedder.empty() ? fallback_crop_style : crop_style;
  // A gallery made with test-time flip names its crop style "<style>+flip": the same space
  // needs the flip, and the embedder takes the style without it ("dlib-chip" is dlib's default).
  bool gallery_flip = false;
  if (const auto plus = o.embedder_options.crop_style.find("+flip"); plus != std::string::npos) {
    o.embedder_options.crop_style.erase(plus);
    gallery_flip = true;
  }
  if (o.embedder_options.crop_style == "dlib-chip") o.embedder_options.crop_style.clear();
  o.embedder_options.runtime.device = parse_device(device);
  o.embedder_options.runtime.precision = parse_precision(precision);
  o.embedder_options.runtime.threads = threads;
  o.embedder_options.flip_average = flip || gallery_flip;
  if (antispoof >= 0) o.analysis.antispoof_threshold = antispoof;
  if (!attributes.empty()) o.analysis.attributes = parse_attributes(attributes);
  return o;
}

std::string embedder_spec_for(const EmbedderInfo& info) {
  // EmbedderInfo names are "dlib-..." or "clip:<stem>" / "clip-random:<arch>". A CLIP weight file
  // is looked for again under models_dir() by its stem; a file kept elsewhere needs --embedder.
  if (info.name.rfind("dlib", 0) == 0) return "dlib";
  const std::string prefix = "clip:";
  if (info.name.rfind(prefix, 0) == 0) {
    const std::string stem = info.name.substr(prefix.size());
    for (const char* ext : {".pt", ".safetensors"}) {
      if (std::filesystem::exists(models_dir() / (stem + ext))) return prefix + stem + ext;
    }
  }
  return info.name;
}

}  // namespace clipface::app
