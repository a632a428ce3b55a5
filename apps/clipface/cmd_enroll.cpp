// clipface enroll GALLERY DIR: every person folder of DIR into the gallery (created on first use).
// clipface add GALLERY --person NAME IMG...: photos of one person.
// clipface add GALLERY --unlabelled IMG|DIR...: every face, without a name (for clipface cluster);
// --strangers: the same, as known strangers (never named; calibrate counts them as impostors).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/errors.hpp"
#include "clipface/recognizer.hpp"
#include "command.hpp"
#include "inputs.hpp"
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
  InputPolicy policy;
};

// The pipeline for the gallery's embedder (or the one asked for), and the gallery: an existing one,
// or one created only when the first face is written, so a failed call leaves no gallery behind.
struct Target {
  std::unique_ptr<Gallery> existing;
  std::unique_ptr<FacePipeline> pipeline;
  std::unique_ptr<GalleryTarget> gallery;
};

Target open_target(const EnrollArgs& args) {
  Target t;
  if (fs::exists(fs::path(args.gallery) / kGalleryDbName)) {
    t.existing = std::make_unique<Gallery>(Gallery::open(args.gallery, GalleryMode::write));
    const EmbedderInfo& model = t.existing->model();
    t.pipeline = std::make_unique<FacePipeline>(
        args.pipeline.options(embedder_spec_for(model), model.crop_style));
    t.existing->require_model(t.pipeline->embedder().info());
    t.gallery = std::make_unique<GalleryTarget>(*t.existing);
    return t;
  }
  GalleryOptions options;
  options.index_factory = args.index;
  options.search_params = args.search_params;
  t.pipeline = std::make_unique<FacePipeline>(args.pipeline.options());
  t.gallery = std::make_unique<GalleryTarget>(args.gallery, options);
  return t;
}

int report(const EnrollArgs& args, const EnrollReport& report, const GalleryTarget& target) {
  SkipList skips;
  for (const auto& s : report.skipped) skips.skip(s.path.string(), s.reason, s.exit_code);
  // Faces left out of images that were used: noted, but the image counts as used.
  for (const auto& s : report.skipped_faces) {
    std::fprintf(stderr, "clipface: skipped %s %s\n", s.path.string().c_str(), s.reason.c_str());
  }
  skips.use(static_cast<std::size_t>(report.images) - report.skipped.size());
  for (const auto& path : report.already_enrolled) {
    std::fprintf(stderr, "clipface: already enrolled: %s\n", path.string().c_str());
  }
  const std::size_t gallery_faces = target.existing() ? target.existing()->size() : 0;
  skips.print_summary("images");
  if (args.json) {
    nlohmann::json out{{"gallery", args.gallery},
                       {"people", report.people},
                       {"images", report.images},
                       {"faces", report.faces},
                       {"already_enrolled", report.already_enrolled.size()},
                       {"seconds", report.seconds},
                       {"gallery_faces", gallery_faces},
                       {"skipped", skips.json()}};
    if (args.unlabelled || args.strangers) {
      out["unlabelled_faces"] = report.faces;
      out["skipped_faces"] = nlohmann::json::array();
      for (const auto& s : report.skipped_faces) {
        out["skipped_faces"].push_back(skip_json(s.path.string(), s.reason, s.exit_code));
      }
    }
    std::printf("%s\n", out.dump().c_str());
  } else if ((args.unlabelled || args.strangers) && (report.written || target.existing())) {
    std::printf("added %d %s from %d images in %.1f s (gallery: %zu faces, %zu with a name)\n",
                report.faces, args.strangers ? "known strangers" : "unlabelled faces",
                report.images, report.seconds, gallery_faces,
                target.existing() ? target.existing()->labelled_size() : 0);
  } else if (report.written || target.existing()) {
    std::printf("enrolled %d faces of %d people from %d images in %.1f s (gallery: %zu faces)\n",
                report.faces, report.people, report.images, report.seconds, gallery_faces);
  }
  return skips.exit_code(args.policy);
}

EnrollOptions enroll_options(const EnrollArgs& args) {
  EnrollOptions options;
  options.store_crops = !args.no_crops;
  options.strict = args.policy.strict;
  options.quality = parse_quality_bar(args.quality);
  return options;
}

void add_enroll_options(CLI::App& app, EnrollArgs& args) {
  app.add_option("--index", args.index,
                 "index factory string for a new gallery (Flat = exact; FAISS's, e.g. "
                 "IVF4096,PQ64, or CFIVF16384: clipface's int8 IVF for ~1M faces)");
  app.add_option("--search-params", args.search_params,
                 "search parameters stored with a new gallery (e.g. nprobe=32,rerank=32)");
  app.add_flag("--no-crops", args.no_crops, "do not store aligned face crops");
  app.add_flag("--json", args.json, "print the summary as JSON");
  app.add_option("--quality-bar", args.quality,
                 "faces below it are skipped: default (" + to_string(QualityBar{}) +
                     "), off, or key=value,... over size, sharpness, yaw, pitch, roll, score");
  args.pipeline.add_to(app);
  args.pipeline.add_analysis_to(app, /*with_attributes=*/false);
  args.policy.add_to(app);
}

const bool enroll_registered = register_command(
    "enroll", "enroll every person folder of DIR (DIR/<person>/* or DIR/<person>/train/*)",
    [](CLI::App& app) {
      auto args = std::make_shared<EnrollArgs>();
      app.add_option("gallery", args->gallery, "gallery folder (created if missing)")->required();
      app.add_option("dir", args->dir, "folder of person folders")->required();
      add_enroll_options(app, *args);
      return [args]() {
        const auto people = list_people(args->dir);  // before touching the gallery
        const EnrollOptions options = enroll_options(*args);
        Target target = open_target(*args);
        return report(*args, enroll_people(*target.gallery, *target.pipeline, people, options),
                      *target.gallery);
      };
    });

const bool add_registered = register_command(
    "add", "add photos of one person (or unlabelled photos) to a gallery", [](CLI::App& app) {
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
      add_enroll_options(app, *args);
      return [args]() {
        const EnrollOptions options = enroll_options(*args);
        if (args->unlabelled || args->strangers) {
          const std::vector<fs::path> images = expand_image_inputs(args->images);
          if (images.empty()) throw InputError("no image files in the folders given");
          Target target = open_target(*args);
          return report(*args,
                        enroll_unlabelled(*target.gallery, *target.pipeline, images, options,
                                          args->strangers),
                        *target.gallery);
        }
        if (args->person.empty()) {
          throw InputError("say whose photos they are (--person NAME), or add them --unlabelled");
        }
        // A missing file is skipped like an unreadable one (load_image names the problem).
        PersonImages person{args->person, {args->images.begin(), args->images.end()}};
        Target target = open_target(*args);
        return report(*args, enroll_people(*target.gallery, *target.pipeline, {person}, options),
                      *target.gallery);
      };
    });

}  // namespace
}  // namespace clipface::app
