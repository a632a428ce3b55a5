// clipface cluster GALLERY: groups the gallery's unlabelled faces into candidate people (new
// faces join the clusters there are; --full re-clusters all) and proposes names.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>

#include "clipface/cluster.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

struct ClusterArgs {
  std::string gallery;
  ClusterRunOptions run;
  bool json = false;
  bool quiet = false;
};

nlohmann::json number_or_null(std::int64_t cluster) {
  return cluster > 0 ? nlohmann::json(cluster) : nlohmann::json(nullptr);
}

const bool registered = register_command(
    "cluster", "group a gallery's unlabelled faces into candidate people and propose names",
    [](CLI::App& app) {
      auto args = std::make_shared<ClusterArgs>();
      app.add_option("gallery", args->gallery, "gallery folder")->required();
      app.add_flag("--full", args->run.full,
                   "re-cluster every unlabelled face (cluster numbers are kept where the same "
                   "faces are found together again)");
      app.add_option("--radius", args->run.clustering.radius,
                     "neighbourhood radius as a cosine distance (default: the gallery's vote "
                     "threshold; Immich uses 0.5 for its ArcFace model)")
          ->check(CLI::Range(0.0, 2.0));
      app.add_option("--min-faces", args->run.clustering.min_faces,
                     "faces within the radius (itself included) that make a core face")
          ->check(CLI::PositiveNumber);
      app.add_option("--link-radius", args->run.clustering.link_radius,
                     "mean cosine distance below which two groups join (default: the gallery's "
                     "vote threshold as a cosine distance, whatever the radius)")
          ->check(CLI::Range(0.0, 2.0));
      app.add_option("--proposal-share", args->run.proposal_share,
                     "share of a cluster's faces that must be named P to propose P")
          ->check(CLI::Range(0.0, 1.0));
      app.add_flag("--json", args->json,
                   "one JSON line per unlabelled face: file, face, face_id, cluster (null for "
                   "noise), core, proposed, score");
      app.add_flag("--quiet", args->quiet, "no progress or summary on stderr");
      return [args]() {
        Gallery gallery = Gallery::open(args->gallery, GalleryMode::write);
        args->run.progress = !args->quiet;
        const ClusterReport r = cluster_gallery(gallery, args->run);
        if (!args->quiet) {
          std::fprintf(stderr,
                       "clipface: %zu unlabelled faces: %zu clusters (%zu new), %zu faces joined "
                       "clusters there were, %zu noise, %zu proposals (radius %.4f, link %.4f, "
                       "min faces %d, %.2f s)\n",
                       r.unlabelled, r.clusters, r.new_clusters, r.joined, r.noise, r.proposals,
                       r.radius, r.link_radius, r.min_faces, r.seconds);
        }
        const auto clusters = gallery.clusters();
        std::map<std::int64_t, const ClusterSummary*> by_id;
        for (const auto& c : clusters) by_id[c.id] = &c;
        const auto faces = gallery.face_records(FaceSet::unlabelled);
        if (args->json) {
          for (const auto& f : faces) {
            if (f.stranger) continue;
            nlohmann::json line{{"file", f.image_path}, {"face", f.face_index},
                                {"face_id", f.id},      {"cluster", number_or_null(f.cluster)},
                                {"core", f.core},       {"proposed", nullptr},
                                {"score", nullptr}};
            const auto it = by_id.find(f.cluster);
            if (it != by_id.end() && !it->second->proposed.empty()) {
              line["proposed"] = it->second->proposed;
              line["score"] = it->second->proposed_score;
            }
            std::printf("%s\n", line.dump().c_str());
          }
          return 0;
        }
        std::map<std::int64_t, std::string> example;
        for (const auto& f : faces) example.try_emplace(f.cluster, f.image_path);
        std::printf("%8s %6s %5s  %-24s %6s  %s\n", "cluster", "faces", "core", "proposed", "score",
                    "example");
        for (const auto& c : clusters) {
          std::printf(
              "%8lld %6d %5d  %-24s %6s  %s\n", static_cast<long long>(c.id), c.faces, c.core_faces,
              c.proposed.empty() ? "-" : c.proposed.c_str(),
              c.proposed.empty() ? "-" : std::to_string(c.proposed_score).substr(0, 5).c_str(),
              example[c.id].c_str());
        }
        std::printf(
            "%zu clusters, %zu faces left as noise; name one with: clipface people %s "
            "name CLUSTER NAME\n",
            clusters.size(), r.noise, args->gallery.c_str());
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
