// Tracking and naming on synthetic clips: `clipface watch` against the per-frame loop, and watch
// without its re-identification (tracks by motion only), in the same run. The figures of
// docs/results.md ("Tracking").
//
//   build/bench/watch_tracking [--clips 6] [--seconds 8] [--enrolled 3] [--strangers 1]
//                              [--people DIR] [--embedder dlib] [--keep DIR]
//
// Each clip casts new people from DIR (default: the shared LFW View 1 folder): `enrolled` of them
// with three photos in the gallery and a fourth pasted into the clip, `strangers` never enrolled
// (see include/clipface/eval/tracking.hpp for the script). --keep DIR keeps the clips, their
// galleries and their ground truth (clipN.truth.jsonl).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "clipface/allocator.hpp"
#include "clipface/eval/tracking.hpp"

namespace {
using namespace clipface;
namespace fs = std::filesystem;

fs::path shared_dir() {
  const char* env = std::getenv("CLIPFACE_SHARED");
  return env && *env ? fs::path(env) : fs::path(CLIPFACE_DEFAULT_SHARED);
}

struct Totals {
  eval::TrackingFigures sum;
  void add(const eval::TrackingFigures& f) {
    sum.truth_boxes += f.truth_boxes;
    sum.hypotheses += f.hypotheses;
    sum.matches += f.matches;
    sum.misses += f.misses;
    sum.false_positives += f.false_positives;
    sum.id_switches += f.id_switches;
    sum.idtp += f.idtp;
    sum.idfp += f.idfp;
    sum.idfn += f.idfn;
    sum.named_right += f.named_right;
    sum.named_wrong += f.named_wrong;
    sum.named_pending += f.named_pending;
    sum.label_changes += f.label_changes;
    sum.truth_tracks += f.truth_tracks;
    sum.has_ids = f.has_ids;
  }
  eval::TrackingFigures figures() const {
    eval::TrackingFigures f = sum;
    f.mota = f.truth_boxes
                 ? 1.0 - double(f.misses + f.false_positives + f.id_switches) / f.truth_boxes
                 : 0;
    const int d = 2 * f.idtp + f.idfp + f.idfn;
    f.idf1 = d ? 2.0 * f.idtp / d : 0;
    return f;
  }
};

void row(const char* method, const eval::TrackingFigures& f) {
  const int named = f.named_right + f.named_wrong + f.named_pending;
  if (f.has_ids) {
    std::printf("| %s | %.3f | %.3f | %d | %d | %d | %d | %.1f%% | %d | %.1f%% | %d | %.2f |\n",
                method, f.mota, f.idf1, f.id_switches, f.misses, f.false_positives, f.truth_boxes,
                100.0 * f.named_right / std::max(1, named), f.named_wrong,
                100.0 * f.named_pending / std::max(1, named), f.label_changes, f.flicker());
  } else {
    std::printf("| %s | %.3f | - | - | %d | %d | %d | %.1f%% | %d | %.1f%% | %d | %.2f |\n", method,
                f.mota, f.misses, f.false_positives, f.truth_boxes,
                100.0 * f.named_right / std::max(1, named), f.named_wrong,
                100.0 * f.named_pending / std::max(1, named), f.label_changes, f.flicker());
  }
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  int clips = 6, enrolled = 3, strangers = 1;
  double seconds = 8;
  fs::path people = shared_dir() / "data/faces/lfw-view1";
  std::string embedder = "dlib";
  fs::path keep;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--clips") {
      clips = std::stoi(next());
    } else if (arg == "--seconds") {
      seconds = std::stod(next());
    } else if (arg == "--enrolled") {
      enrolled = std::stoi(next());
    } else if (arg == "--strangers") {
      strangers = std::stoi(next());
    } else if (arg == "--people") {
      people = next();
    } else if (arg == "--embedder") {
      embedder = next();
    } else if (arg == "--keep") {
      keep = next();
    } else {
      std::fprintf(stderr,
                   "usage: watch_tracking [--clips N] [--seconds S] [--enrolled N] [--strangers N] "
                   "[--people DIR] [--embedder SPEC] [--keep DIR]\n");
      return 2;
    }
  }
  const fs::path tmp =
      keep.empty() ? fs::temp_directory_path() / ("watch_tracking-" + std::to_string(::getpid()))
                   : keep;
  fs::create_directories(tmp);
  PipelineOptions po;
  po.embedder = embedder;
  const FacePipeline pipeline(po);
  Totals tracked, motion_only, per_frame;
  int crossings = 0, occlusions = 0, exits = 0;
  double tracked_fps = 0, loop_fps = 0;
  std::printf(
      "watch_tracking: %d clips of %.0f s at 640x360, %d enrolled + %d strangers each, %s\n\n",
      clips, seconds, enrolled, strangers, embedder.c_str());
  std::printf(
      "| clip | method | MOTA | IDF1 | ID switches | named right | named wrong | pending | label "
      "changes |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int c = 0; c < clips; ++c) {
    const std::uint64_t seed = 1000 + c;
    Gallery gallery =
        Gallery::create(tmp / ("gallery" + std::to_string(c)), pipeline.embedder().info());
    const auto actors = eval::cast_actors(people, gallery, pipeline, enrolled, strangers, 3, seed);
    eval::SyntheticClipOptions so;
    so.seconds = seconds;
    so.seed = seed;
    const auto clip =
        eval::make_synthetic_clip(actors, so, tmp / ("clip" + std::to_string(c) + ".mp4"));
    if (!keep.empty()) {  // the ground truth beside the clip, one JSON line per frame
      std::ofstream truth(tmp / ("clip" + std::to_string(c) + ".truth.jsonl"));
      for (std::size_t n = 0; n < clip.truth.frames.size(); ++n) {
        nlohmann::json faces = nlohmann::json::array();
        for (const auto& b : clip.truth.frames[n]) {
          faces.push_back({{"person", b.person},
                           {"name", clip.truth.names[static_cast<std::size_t>(b.person)]},
                           {"box", {b.box.x, b.box.y, b.box.width, b.box.height}},
                           {"visibility", b.visibility}});
        }
        truth << nlohmann::json{{"frame", n}, {"faces", faces}}.dump() << "\n";
      }
    }
    crossings += clip.crossings;
    occlusions += clip.occlusions;
    exits += clip.exits;
    WatchOptions wo;
    wo.vote = gallery.vote_rule();
    const auto both = eval::compare_on_clip(gallery, pipeline, wo, clip);
    WatchOptions no_link = wo;
    no_link.identity.link_seconds = 0;  // re-identification off: tracks by motion only
    const auto motion = eval::compare_on_clip(gallery, pipeline, no_link, clip);
    tracked.add(both.tracked);
    per_frame.add(both.per_frame);
    motion_only.add(motion.tracked);
    tracked_fps += both.tracked_fps / clips;
    loop_fps += both.per_frame_fps / clips;
    for (const auto& [name, f] :
         {std::pair{"watch", both.tracked}, std::pair{"watch, motion only", motion.tracked},
          std::pair{"per-frame loop", both.per_frame}}) {
      const int named = f.named_right + f.named_wrong + f.named_pending;
      if (f.has_ids) {
        std::printf("| %d | %s | %.3f | %.3f | %d | %.1f%% | %d | %d | %d |\n", c, name, f.mota,
                    f.idf1, f.id_switches, 100.0 * f.named_right / std::max(1, named),
                    f.named_wrong, f.named_pending, f.label_changes);
      } else {
        std::printf("| %d | %s | %.3f | - | - | %.1f%% | %d | %d | %d |\n", c, name, f.mota,
                    100.0 * f.named_right / std::max(1, named), f.named_wrong, f.named_pending,
                    f.label_changes);
      }
    }
    std::fflush(stdout);
  }
  std::printf(
      "\nAll clips (%d crossings, %d occlusions behind the pillar, %d exits and returns):\n\n",
      crossings, occlusions, exits);
  std::printf(
      "| method | MOTA | IDF1 | ID switches | misses | false positives | true faces | named right "
      "| named wrong | pending | label changes | changes per true face |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  row("watch", tracked.figures());
  row("watch, motion only (no re-identification)", motion_only.figures());
  row("per-frame loop", per_frame.figures());
  std::printf("\nfps: watch %.1f, per-frame loop %.1f (mean over clips)\n", tracked_fps, loop_fps);
  if (keep.empty()) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }
  return 0;
}
