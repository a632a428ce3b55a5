// clipface doctor: what this machine gives clipface (CPU features, the kernels and precision CLIP
// runs with here, int8 gallery kernels, threads, libraries, models, settings), as a table or JSON.
// clipface doctor GALLERY: that gallery's health instead (doctor_gallery.hpp, clipface/health.hpp).
#include <cstdio>

#include "clipface/doctor.hpp"
#include "command.hpp"
#include "doctor_gallery.hpp"

namespace clipface::app {
namespace {

const bool registered = register_command(
    "doctor",
    "what this machine runs (CPU features, precision auto picks, libraries, models), or with "
    "GALLERY that gallery's health: likely mislabelled faces, names that are one person, too few "
    "or duplicated photos, faces below the quality bar, vectors of another model",
    [](CLI::App& app) {
      auto args = std::make_shared<GalleryDoctorArgs>();
      app.add_option("gallery", args->gallery, "a gallery folder to check instead");
      app.add_flag("--json", args->json, "print the report as JSON");
      add_gallery_doctor_options(app, *args);
      args->pipeline.add_to(app);
      return [args]() {
        if (!args->gallery.empty()) return run_gallery_doctor(*args);
        const SystemReport report = system_report();
        if (args->json) {
          std::printf("%s\n", to_json(report).dump(2).c_str());
        } else {
          std::fputs(to_text(report).c_str(), stdout);
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
