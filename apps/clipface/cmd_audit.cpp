// clipface audit GALLERY [--since T] [--key ID] [--subject NAME] [--limit N] [--json]: who did
// what to the gallery through `clipface serve`, and when (audit.db beside gallery.db).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "clipface/audit_log.hpp"
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

struct AuditArgs {
  std::string gallery;
  AuditQuery query;
  bool json = false;
};

const bool registered = register_command(
    "audit", "read the audit log of `clipface serve` (every write and search)", [](CLI::App& app) {
      auto args = std::make_shared<AuditArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.add_option("--since", args->query.since,
                     "entries from this UTC time on (ISO 8601, e.g. 2026-12-04T18:00)");
      app.add_option("--key", args->query.key_id, "entries of this key id");
      app.add_option("--subject", args->query.subject, "entries naming this subject");
      app.add_option("--limit", args->query.limit, "the newest N entries (0 = all)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      app.add_flag("--json", args->json, "one JSON object per line");
      return [args]() {
        const std::filesystem::path dir = args->gallery;
        if (!std::filesystem::exists(dir / kGalleryDbName)) {
          throw GalleryError("no gallery at " + args->gallery + " (no " + kGalleryDbName + ")");
        }
        if (!std::filesystem::exists(dir / kAuditDbName)) {
          std::fprintf(stderr, "clipface: %s has no audit log yet (clipface serve writes it)\n",
                       args->gallery.c_str());
          return 0;
        }
        const AuditLog log = AuditLog::open(dir, false);
        const auto entries = log.query(args->query);
        if (!args->json) {
          std::printf("%-24s  %-8s  %-6s  %-44s  %-20s  %6s  %s\n", "time", "key", "method",
                      "route", "subject", "status", "outcome");
        }
        for (const auto& e : entries) {
          if (args->json) {
            const nlohmann::json j = to_json(e);
            std::printf("%s\n", j.dump().c_str());
          } else {
            std::printf("%-24s  %-8s  %-6s  %-44s  %-20s  %6d  %s\n", e.time.c_str(),
                        e.key_id.empty() ? "-" : e.key_id.c_str(), e.method.c_str(),
                        e.route.c_str(), e.subject.empty() ? "-" : e.subject.c_str(), e.status,
                        e.outcome.c_str());
          }
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
