#include "doctor_gallery.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "clipface/errors.hpp"
#include "clipface/health.hpp"
#include "clipface/recognizer.hpp"

namespace clipface::app {

void add_gallery_doctor_options(CLI::App& app, GalleryDoctorArgs& args) {
  app.add_option("--html", args.html, "also write an HTML page with the faces' crops here");
  app.add_flag("--no-model-check", args.no_model_check,
               "do not embed stored crops again to check the vectors come from the model");
}

int run_gallery_doctor(const GalleryDoctorArgs& args) {
  const Gallery gallery = Gallery::open(args.gallery, GalleryMode::read);
  std::unique_ptr<FacePipeline> pipeline;
  std::string spec;
  if (!args.no_model_check) {
    const PipelineOptions options =
        args.pipeline.options(embedder_spec_for(gallery.model()), gallery.model().crop_style);
    spec = options.embedder;
    try {
      pipeline = std::make_unique<FacePipeline>(options);
    } catch (const ModelError& e) {
      // The other checks need no model; say why this one was not made.
      std::fprintf(stderr, "clipface: not checking the embeddings against the model: %s\n",
                   e.what());
    }
  }
  const HealthReport report =
      check_health(gallery, {}, pipeline ? &pipeline->embedder() : nullptr, spec);
  if (args.json) {
    nlohmann::json out = to_json(report);
    if (!args.html.empty()) out["html"] = write_health_page(report, gallery, args.html).string();
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s", to_text(report).c_str());
    if (!args.html.empty()) {
      std::printf("\nreport: %s\n", write_health_page(report, gallery, args.html).string().c_str());
    }
  }
  return report.count(Severity::problem) > 0 ? 1 : 0;
}

}  // namespace clipface::app
