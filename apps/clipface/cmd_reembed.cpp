// clipface reembed GALLERY --embedder NAME: every face embedded again with another model, from
// the stored crops (or source images), resumable, switching models in one transaction at the end.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "clipface/errors.hpp"
#include "clipface/reembed.hpp"
#include "command.hpp"
#include "pipeline_args.hpp"

namespace clipface::app {
namespace {

struct ReembedArgs {
  std::string gallery;
  ReembedOptions options;
  bool no_switch = false;
  bool cancel = false;
  bool status = false;
  bool json = false;
  bool quiet = false;
  PipelineArgs pipeline;
};

nlohmann::json model_json(const EmbedderInfo& m) {
  return {{"name", m.name}, {"checksum", m.checksum}, {"crop_style", m.crop_style}, {"dim", m.dim}};
}

const bool registered = register_command(
    "reembed", "embed every face again with another model, keeping names, clusters and negatives",
    [](CLI::App& app) {
      auto args = std::make_shared<ReembedArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.add_option("--batch", args->options.batch, "faces per transaction (32)")
          ->check(CLI::PositiveNumber);
      app.add_flag("--no-switch", args->no_switch,
                   "compute the new vectors but keep searching with the old model");
      app.add_flag("--drop-failed", args->options.drop_failed,
                   "switch even when some faces could not be re-embedded (they are removed)");
      app.add_flag("--cancel", args->cancel, "abandon a re-embedding in progress");
      app.add_flag("--again", args->options.again,
                   "embed every face anew with the gallery's own model (repairs vectors that "
                   "clipface doctor found made by another model)");
      app.add_flag("--status", args->status, "show the re-embedding in progress, change nothing");
      app.add_flag("--json", args->json, "print JSON");
      app.add_flag("--quiet", args->quiet, "no progress on stderr");
      args->pipeline.add_to(app);
      return [args]() {
        Gallery gallery =
            Gallery::open(args->gallery, args->status ? GalleryMode::read : GalleryMode::write);
        if (args->status || args->cancel) {
          const ReembedState s = gallery.reembed_state();
          if (args->cancel) gallery.cancel_reembed();
          if (args->json) {
            std::printf("%s\n", nlohmann::json{{"active", s.active && !args->cancel},
                                               {"cancelled", args->cancel},
                                               {"model", model_json(gallery.model())},
                                               {"target", model_json(s.target)},
                                               {"faces", s.faces},
                                               {"done", s.done},
                                               {"failed", s.failed}}
                                    .dump()
                                    .c_str());
          } else if (args->cancel) {
            std::printf("cancelled the re-embedding with %s (%zu of %zu faces were done)\n",
                        s.target.name.c_str(), s.done, s.faces);
          } else if (!s.active) {
            std::printf("no re-embedding in progress (model %s)\n", gallery.model().name.c_str());
          } else {
            std::printf(
                "re-embedding %s -> %s: %zu of %zu faces done, %zu failed; resume with "
                "clipface reembed %s\n",
                gallery.model().name.c_str(), s.target.name.c_str(), s.done, s.faces, s.failed,
                args->gallery.c_str());
          }
          return 0;
        }
        // Without --embedder: the model an interrupted run used, or (--again) the gallery's.
        const ReembedState s = gallery.reembed_state();
        PipelineArgs pipeline = args->pipeline;
        PipelineOptions chosen;
        if (!pipeline.embedder.empty()) {
          chosen = pipeline.options();
        } else if (s.active) {
          pipeline.embedder = s.spec;
          pipeline.flip = s.target.crop_style.find("+flip") != std::string::npos;
          if (s.target.crop_style.rfind("tight", 0) == 0 ||
              s.target.crop_style.rfind("loose", 0) == 0) {
            pipeline.crop_style = s.target.crop_style.substr(0, 5);
          }
          chosen = pipeline.options();
        } else if (args->options.again) {
          chosen = pipeline.options(embedder_spec_for(gallery.model()), gallery.model().crop_style);
        } else {
          throw InputError("give the new model with --embedder NAME");
        }
        const FacePipeline models(chosen);
        args->options.switch_model = !args->no_switch;
        args->options.progress = !args->quiet;
        const EmbedderInfo before = gallery.model();
        const ReembedReport r = reembed_gallery(gallery, models.embedder(), chosen.embedder,
                                                &models.detector(), args->options);
        if (args->json) {
          nlohmann::json out{{"gallery", args->gallery},
                             {"from", model_json(before)},
                             {"to", model_json(models.embedder().info())},
                             {"faces", r.faces},
                             {"done_before", r.done_before},
                             {"from_crop", r.from_crop},
                             {"from_image", r.from_image},
                             {"from_crop_redetected", r.from_crop_redetected},
                             {"failed", r.failed},
                             {"switched", r.switched},
                             {"dropped", r.result.dropped},
                             {"seconds", r.seconds}};
          std::printf("%s\n", out.dump().c_str());
          return 0;
        }
        std::printf(
            "re-embedded %zu faces with %s in %.1f s (%zu done before; %zu from stored "
            "crops, %zu from source images, %zu from crops with the face found again, "
            "%zu failed)\n",
            r.faces - r.done_before, models.embedder().info().name.c_str(), r.seconds,
            r.done_before, r.from_crop, r.from_image, r.from_crop_redetected, r.failed);
        if (r.switched) {
          std::printf("switched gallery %s from %s to %s (%zu faces%s)\n", args->gallery.c_str(),
                      r.result.from.name.c_str(), r.result.to.name.c_str(), r.result.faces,
                      r.result.dropped
                          ? (", " + std::to_string(r.result.dropped) + " dropped").c_str()
                          : "");
        } else {
          std::printf("still searching with %s; switch with clipface reembed %s\n",
                      before.name.c_str(), args->gallery.c_str());
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
