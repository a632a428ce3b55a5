// clipface calibrate GALLERY [--far 0.001]: sets the Unknown threshold from the gallery's own
// genuine and impostor scores for a target false-accept rate, with per-person exceptions, and
// stores it; identify, watch and serve use it unless told otherwise. Plots the curves.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/calibration.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {
namespace fs = std::filesystem;

struct CalibrateArgs {
  std::string gallery;
  CalibrationOptions options;
  bool no_unlabelled = false;
  bool no_per_person = false;
  bool dry_run = false;
  bool json = false;
  std::string plot;
};

const bool registered = register_command(
    "calibrate",
    "set the Unknown threshold for a target false-accept rate from the gallery's own faces",
    [](CLI::App& app) {
      auto args = std::make_shared<CalibrateArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.add_option("--far", args->options.target_far,
                     "target false-accept rate: share of strangers given a name (0.001)")
          ->check(CLI::Range(1e-9, 0.999999));
      app.add_option("--k1", args->options.k1, "vote k1 (default: the embedder's)");
      app.add_option("--k2", args->options.k2, "vote k2 (default: the embedder's)");
      app.add_flag("--no-per-person", args->no_per_person,
                   "one threshold for everyone (no per-person exceptions)");
      app.add_flag("--no-unlabelled", args->no_unlabelled,
                   "do not count unlabelled faces as strangers (known strangers still count)");
      app.add_option("--max-probes", args->options.max_probes,
                     "probes of each kind (a seeded sample beyond)");
      app.add_option("--seed", args->options.seed, "seed of that sample");
      app.add_option("--plot", args->plot,
                     "PNG of the FAR/FRR curves with the chosen point (default "
                     "GALLERY/calibration.png; the distances go beside it)");
      app.add_flag("--dry-run", args->dry_run, "measure and print, store nothing");
      app.add_flag("--json", args->json, "print JSON");
      return [args]() {
        args->options.per_person = !args->no_per_person;
        Gallery gallery =
            Gallery::open(args->gallery, args->dry_run ? GalleryMode::read : GalleryMode::write);
        const CalibrationResult r = calibrate_gallery(gallery, args->options, !args->no_unlabelled);
        const fs::path curves =
            args->plot.empty() ? fs::path(args->gallery) / "calibration.png" : fs::path(args->plot);
        const fs::path distances =
            curves.parent_path() / (curves.stem().string() + "_distances.png");
        if (!curves.parent_path().empty()) fs::create_directories(curves.parent_path());
        draw_calibration(r, curves, distances);
        std::int64_t id = 0;
        if (!args->dry_run) id = gallery.store_calibration(to_stored(r, gallery));
        if (args->json) {
          nlohmann::json people = nlohmann::json::array();
          for (const auto& p : r.people) {
            people.push_back(
                {{"person", p.person}, {"threshold", p.threshold}, {"reason", p.reason}});
          }
          nlohmann::json sources = nlohmann::json::object();
          for (const auto& [s, n] : r.impostor_sources) sources[s] = n;
          nlohmann::json out{{"gallery", args->gallery},
                             {"target_far", r.target_far},
                             {"k1", r.rule.k1},
                             {"k2", r.rule.k2},
                             {"threshold", r.rule.threshold},
                             {"cosine", cosine_from_l2(r.rule.threshold)},
                             {"far", r.far},
                             {"far_upper_95", r.far_upper},
                             {"frr", r.frr < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.frr)},
                             {"genuine_probes", r.genuine},
                             {"impostor_probes", r.impostors},
                             {"impostor_sources", sources},
                             {"people", people},
                             {"plots", {curves.string(), distances.string()}},
                             {"stored", !args->dry_run}};
          if (id) out["calibration_id"] = id;
          std::printf("%s\n", out.dump().c_str());
          return 0;
        }
        std::printf("%s gallery %s for FAR %g (k1 %d, k2 %d):\n",
                    args->dry_run ? "measured (not stored)" : "calibrated", args->gallery.c_str(),
                    r.target_far, r.rule.k1, r.rule.k2);
        std::string sources;
        for (const auto& [s, n] : r.impostor_sources) {
          sources += (sources.empty() ? "" : ", ") + std::to_string(n) + " " + s;
        }
        std::printf("  threshold %.4f (cosine %.4f)\n", r.rule.threshold,
                    cosine_from_l2(r.rule.threshold));
        std::printf("  FAR %.5f (95%% upper bound %.5f) on %zu impostor probes (%s)\n", r.far,
                    r.far_upper, r.impostors, sources.c_str());
        if (r.frr >= 0) {
          std::printf("  FRR %.4f on %zu genuine probes (each face against the others)\n", r.frr,
                      r.genuine);
        } else {
          std::printf("  FRR not measured: nobody has two faces to test against each other\n");
        }
        for (const auto& p : r.people) {
          std::printf("  %s: threshold %.4f, %s\n", p.person.c_str(), p.threshold,
                      p.reason.c_str());
        }
        std::printf("  plots: %s, %s\n", curves.string().c_str(), distances.string().c_str());
        if (!args->dry_run) {
          std::printf("identify, watch and serve use it from now on (--threshold overrides it)\n");
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
