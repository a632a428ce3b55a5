// clipface doctor: what this machine gives clipface (CPU features, the kernels and precision CLIP
// runs with here, int8 gallery kernels, threads, libraries, models, settings), as a table or JSON.
#include <cstdio>

#include "clipface/doctor.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

struct DoctorArgs {
  bool json = false;
};

const bool registered = register_command(
    "doctor", "what this machine runs: CPU features, precision auto picks, libraries, models",
    [](CLI::App& app) {
      auto args = std::make_shared<DoctorArgs>();
      app.add_flag("--json", args->json, "print the report as JSON");
      return [args]() {
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
