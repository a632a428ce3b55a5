// clipface doctor GALLERY: the gallery's health (doctor_gallery.hpp). The system report without
// a gallery is issue 14's; this file is where the two meet.
#include "clipface/errors.hpp"
#include "command.hpp"
#include "doctor_gallery.hpp"

namespace clipface::app {
namespace {

const bool registered = register_command(
    "doctor",
    "check a gallery: likely mislabelled faces, names that are one person, too few or duplicated "
    "photos, faces below the quality bar, vectors of another model, and what waits for you",
    [](CLI::App& app) {
      auto args = std::make_shared<GalleryDoctorArgs>();
      app.add_option("gallery", args->gallery, "gallery folder");
      app.add_flag("--json", args->json, "print JSON");
      add_gallery_doctor_options(app, *args);
      args->pipeline.add_to(app);
      return [args]() {
        if (args->gallery.empty()) {
          throw InputError("give a gallery folder: clipface doctor GALLERY");
        }
        return run_gallery_doctor(*args);
      };
    });

}  // namespace
}  // namespace clipface::app
