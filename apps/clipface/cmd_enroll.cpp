// clipface enroll GALLERY DIR: every person folder of DIR into the gallery (created on first use).
// clipface add GALLERY --person NAME IMG...: photos of one person.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/errors.hpp"
#include "clipface/recognizer.hpp"
#include "command.hpp"
#include "pipeline_args.hpp"

namespace clipface::app {
namespace {
namespace fs = std::filesystem;

struct EnrollArgs {
  std::string gallery;
  std::string dir;
  std::string person;
  std::vector<std::string> images;
  std::string index = "Flat";
  std::string search_params;
  bool no_crops = false;
  bool json = false;
  PipelineArgs pipeline;
};

// Opens the gallery, or creates it for the pipeline's embedder when it does not exist yet; the
// embedder defaults to the one the gallery was made with.
Gallery open_or_create(const EnrollArgs& args, std::unique_ptr<FacePipeline>& pipeline) {
  if (fs::exists(fs::path(args.gallery) / kGalleryDbName)) {
    Gallery gallery = Gallery::open(args.gallery, GalleryMode::write);
    pipeline = std::make_unique<FacePipeline>(
        args.pipeline.options(embedder_spec_for(gallery.model()), gallery.model().crop_style));
    gallery.require_model(pipeline->embedder().info());
    return gallery;
  }
  pipeline = std::make_unique<FacePipeline>(args.pipeline.options());
  GalleryOptions options;
  options.index_factory = args.index;
  options.search_params = args.search_params;
  return Gallery::create(args.gallery, pipeline->embedder().info(), options);
}

int print_report(const EnrollArgs& args, const EnrollReport& report, const Gallery& gallery) {
  if (args.json) {
    nlohmann::json out{{"gallery", args.gallery},           {"people", report.people},
                       {"images", report.images},           {"faces", report.faces},
                       {"seconds", report.seconds},         {"gallery_faces", gallery.size()},
                       {"skipped", nlohmann::json::array()}};
    for (const auto& s : report.skipped) {
      out["skipped"].push_back({{"file", s.path.string()}, {"reason", s.reason}});
    }
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("enrolled %d faces of %d people from %d images in %.1f s (gallery: %zu faces)\n",
                report.faces, report.people, report.images, report.seconds, gallery.size());
    if (!report.skipped.empty()) {
      std::printf("skipped %zu images:\n", report.skipped.size());
      for (const auto& s : report.skipped) {
        std::printf("  %s: %s\n", s.path.string().c_str(), s.reason.c_str());
      }
    }
  }
  return 0;
}

const bool enroll_registered = register_command(
    "enroll", "enroll every person folder of DIR (DIR/<person>/* or DIR/<person>/train/*)",
    [](CLI::App& app) {
      auto args = std::make_shared<EnrollArgs>();
      app.add_option("gallery", args->gallery, "gallery folder (created if missing)")->required();
      app.add_option("dir", args->dir, "folder of person folders")->required();
      app.add_option("--index", args->index,
                     "index factory string for a new gallery (Flat = exact; FAISS's, e.g. "
                     "IVF4096,PQ64, or CFIVF16384: clipface's int8 IVF for ~1M faces)");
      app.add_option("--search-params", args->search_params,
                     "search parameters stored with a new gallery (e.g. nprobe=32,rerank=32)");
      app.add_flag("--no-crops", args->no_crops, "do not store aligned face crops");
      app.add_flag("--json", args->json, "print the summary as JSON");
      args->pipeline.add_to(app);
      args->pipeline.add_analysis_to(app, /*with_attributes=*/false);
      return [args]() {
        const auto people = list_people(args->dir);  // before touching the gallery
        std::unique_ptr<FacePipeline> pipeline;
        Gallery gallery = open_or_create(*args, pipeline);
        EnrollOptions options;
        options.store_crops = !args->no_crops;
        return print_report(*args, enroll_people(gallery, *pipeline, people, options), gallery);
      };
    });

const bool add_registered =
    register_command("add", "add photos of one person to a gallery", [](CLI::App& app) {
      auto args = std::make_shared<EnrollArgs>();
      app.add_option("gallery", args->gallery, "gallery folder (created if missing)")->required();
      app.add_option("images", args->images, "photos with exactly one face")->required();
      app.add_option("--person", args->person, "the person's name")->required();
      app.add_option("--index", args->index, "index factory string for a new gallery");
      app.add_option("--search-params", args->search_params,
                     "search parameters stored with a new gallery");
      app.add_flag("--no-crops", args->no_crops, "do not store aligned face crops");
      app.add_flag("--json", args->json, "print the summary as JSON");
      args->pipeline.add_to(app);
      args->pipeline.add_analysis_to(app, /*with_attributes=*/false);
      return [args]() {
        if (args->person.empty()) throw InputError("--person must not be empty");
        PersonImages person{args->person, {}};
        for (const auto& image : args->images) {
          if (!fs::exists(image)) throw InputError("no such file: " + image);
          person.images.emplace_back(image);
        }
        std::unique_ptr<FacePipeline> pipeline;
        Gallery gallery = open_or_create(*args, pipeline);
        EnrollOptions options;
        options.store_crops = !args->no_crops;
        return print_report(*args, enroll_people(gallery, *pipeline, {person}, options), gallery);
      };
    });

}  // namespace
}  // namespace clipface::app
