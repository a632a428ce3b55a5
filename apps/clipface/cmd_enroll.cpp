// clipface enroll GALLERY DIR: every person folder of DIR into the gallery (created on first use).
// clipface add GALLERY --person NAME IMG...: photos of one person.
// clipface add GALLERY --unlabelled IMG|DIR...: every face, without a name (for clipface cluster);
// --strangers: the same, as known strangers (never named; calibrate counts them as impostors).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/errors.hpp"
#include "clipface/image.hpp"
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
  bool unlabelled = false;
  bool strangers = false;
  std::string quality = "default";
  PipelineArgs pipeline;

  EnrollOptions enroll_options() const {
    EnrollOptions o;
    o.store_crops = !no_crops;
    o.quality = parse_quality_bar(quality);
    return o;
  }
};

void add_quality_option(CLI::App& app, EnrollArgs& args) {
  app.add_option("--quality-bar", args.quality,
                 "faces below it are skipped: default (" + to_string(QualityBar{}) +
                     "), off, or key=value,... over size, sharpness, yaw, pitch, roll, score");
}

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
    if (args.unlabelled || args.strangers) out["unlabelled_faces"] = report.faces;
    std::printf("%s\n", out.dump().c_str());
  } else if (args.unlabelled || args.strangers) {
    std::printf("added %d %s from %d images in %.1f s (gallery: %zu faces, %zu with a name)\n",
                report.faces, args.strangers ? "known strangers" : "unlabelled faces",
                report.images, report.seconds, gallery.size(), gallery.labelled_size());
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
      add_quality_option(app, *args);
      args->pipeline.add_to(app);
      return [args]() {
        const auto people = list_people(args->dir);  // before touching the gallery
        const EnrollOptions options = args->enroll_options();
        std::unique_ptr<FacePipeline> pipeline;
        Gallery gallery = open_or_create(*args, pipeline);
        return print_report(*args, enroll_people(gallery, *pipeline, people, options), gallery);
      };
    });

const bool add_registered =
    register_command("add", "add photos of one person to a gallery", [](CLI::App& app) {
      auto args = std::make_shared<EnrollArgs>();
      app.add_option("gallery", args->gallery, "gallery folder (created if missing)")->required();
      app.add_option("images", args->images,
                     "photos with exactly one face (--unlabelled, --strangers: images or folders, "
                     "every face)")
          ->required();
      auto* person = app.add_option("--person", args->person, "the person's name");
      auto* unlabelled =
          app.add_flag("--unlabelled", args->unlabelled,
                       "add every face without a name, for clipface cluster (folders are searched "
                       "recursively)");
      auto* strangers = app.add_flag(
          "--strangers", args->strangers,
          "add every face as a known stranger (never named; calibrate counts them as impostors)");
      person->excludes(unlabelled)->excludes(strangers);
      unlabelled->excludes(strangers);
      app.add_option("--index", args->index, "index factory string for a new gallery");
      app.add_option("--search-params", args->search_params,
                     "search parameters stored with a new gallery");
      app.add_flag("--no-crops", args->no_crops, "do not store aligned face crops");
      app.add_flag("--json", args->json, "print the summary as JSON");
      add_quality_option(app, *args);
      args->pipeline.add_to(app);
      return [args]() {
        const EnrollOptions options = args->enroll_options();
        if (args->unlabelled || args->strangers) {
          std::vector<fs::path> images;
          for (const auto& input : args->images) {
            if (fs::is_directory(input)) {
              for (auto& f : list_images(input, true)) images.push_back(std::move(f));
            } else if (fs::exists(input)) {
              images.emplace_back(input);
            } else {
              throw InputError("no such file or folder: " + input);
            }
          }
          if (images.empty()) throw InputError("no images in the folders given");
          std::unique_ptr<FacePipeline> pipeline;
          Gallery gallery = open_or_create(*args, pipeline);
          const EnrollReport report =
              enroll_unlabelled(gallery, *pipeline, images, options, args->strangers);
          for (const auto& s : report.skipped) {
            std::fprintf(stderr, "clipface: skipped %s: %s\n", s.path.string().c_str(),
                         s.reason.c_str());
          }
          return print_report(*args, report, gallery);
        }
        if (args->person.empty()) {
          throw InputError("say whose photos they are (--person NAME), or add them --unlabelled");
        }
        PersonImages person{args->person, {}};
        for (const auto& image : args->images) {
          if (!fs::exists(image)) throw InputError("no such file: " + image);
          person.images.emplace_back(image);
        }
        std::unique_ptr<FacePipeline> pipeline;
        Gallery gallery = open_or_create(*args, pipeline);
        return print_report(*args, enroll_people(gallery, *pipeline, {person}, options), gallery);
      };
    });

}  // namespace
}  // namespace clipface::app
