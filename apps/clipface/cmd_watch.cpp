// clipface watch GALLERY SOURCE...: names and tracks every face of video files, cameras,
// streams and image folders (the library's Watch pipeline), printing events as JSON lines and
// writing annotated video, snapshots and a presence summary on request.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <mutex>

#include "clipface/errors.hpp"
#include "clipface/progress.hpp"
#include "clipface/watch.hpp"
#include "clipface/watch_sinks.hpp"
#include "command.hpp"
#include "inputs.hpp"  // kPartialExit: some sources used, some not (skipped, damaged, lost)
#include "pipeline_args.hpp"
#include "vote_args.hpp"

namespace clipface::app {
namespace {
namespace fs = std::filesystem;

struct WatchArgs {
  std::string gallery;
  std::vector<std::string> sources;
  PipelineArgs pipeline;
  VoteArgs vote;
  int every = 1;
  double max_fps = 0;
  std::string roi;
  int detect_side = 480;
  int embed_every = 10;
  double lost_seconds = 1;
  double link_seconds = 5;
  bool no_unknown_ids = false;
  bool realtime = false;
  double images_fps = 25;
  int reconnect = 5;
  double read_timeout = 5;
  std::string events;
  bool json_frames = false;
  std::string annotate;
  std::string snapshots;
  std::string summary_csv, summary_json;
  bool quiet = false;
  bool strict = false;
  bool allow_skips = false;
};

std::optional<cv::Rect2f> parse_roi(const std::string& text) {
  if (text.empty()) return std::nullopt;
  float v[4];
  char tail = 0;
  if (std::sscanf(text.c_str(), "%f,%f,%f,%f%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4) {
    throw InputError("--roi expects x,y,width,height (pixels, or fractions of the frame), not '" +
                     text + "'");
  }
  return cv::Rect2f(v[0], v[1], v[2], v[3]);
}

// Frames done over the file sources' frame counts, with the rate, on stderr.
class ProgressSink final : public WatchSink {
 public:
  ProgressSink(std::uint64_t total, bool enabled) : bar_("watch", total, enabled) {}
  void frame(const WatchFrame& frame, const cv::Mat&, const cv::Mat&) override {
    std::lock_guard lock(mutex_);
    ++done_;
    faces_ += frame.faces.size();
    bar_.update(done_, std::to_string(faces_) + " faces");
  }
  void finish() {
    std::lock_guard lock(mutex_);
    bar_.finish();
  }

 private:
  std::mutex mutex_;
  ProgressBar bar_;
  std::uint64_t done_ = 0, faces_ = 0;
};

Watch* g_watch = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_watch) g_watch->stop();  // only sets a flag; a second signal kills (SA_RESETHAND)
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string describe(const SourceReport& r) {
  char line[512];
  std::snprintf(line, sizeof line,
                "%lld frames in %.1f s (%.1f fps), %d track%s, %lld faces, %lld embeddings",
                static_cast<long long>(r.processed), r.seconds, r.fps, r.tracks,
                r.tracks == 1 ? "" : "s", static_cast<long long>(r.faces),
                static_cast<long long>(r.embeddings));
  std::string text = line;
  if (r.dropped) text += ", " + std::to_string(r.dropped) + " dropped (behind a live source)";
  if (r.sampled_out) text += ", " + std::to_string(r.sampled_out) + " skipped by sampling";
  if (r.stats.corrupt) text += ", " + std::to_string(r.stats.corrupt) + " corrupt frames skipped";
  if (r.stats.reconnects) text += ", " + std::to_string(r.stats.reconnects) + " reconnects";
  return text;
}

void print_presence_table(const PresenceLog& log) {
  std::printf("%-24s %-28s %9s %9s %8s %6s %6s\n", "person", "source", "first", "last", "seconds",
              "visits", "best");
  for (const Presence& p : log.people()) {
    std::printf("%-24s %-28s %9.2f %9.2f %8.2f %6zu %6.3f\n", p.person.c_str(),
                fs::path(p.source).filename().string().c_str(), p.first_seen, p.last_seen,
                p.seconds, p.intervals.size(), p.best_score);
  }
}

int run_watch(const WatchArgs& a) {
  const Gallery gallery = Gallery::open(a.gallery, GalleryMode::read);
  const PipelineOptions pipeline =
      a.pipeline.options(embedder_spec_for(gallery.model()), gallery.model().crop_style);
  WatchOptions options;
  options.detector = pipeline.detector;
  options.detect_side = a.detect_side;
  options.roi = parse_roi(a.roi);
  options.every = a.every;
  options.max_fps = a.max_fps;
  options.vote = a.vote.rule(gallery);
  options.lost_seconds = a.lost_seconds;
  options.identity.link_seconds = a.link_seconds;
  options.identity.unknown_ids = !a.no_unknown_ids;
  options.embed_every = a.embed_every;
  options.source.realtime = a.realtime;
  options.source.images_fps = a.images_fps;
  options.source.reconnect_attempts = a.reconnect;
  options.source.read_timeout = a.read_timeout;
  options.source.on_skip = [](const std::string& what, const std::string& reason) {
    std::fprintf(stderr, "clipface: skipped %s: %s\n", what.c_str(), reason.c_str());
  };
  const std::unique_ptr<Embedder> embedder =
      make_embedder(pipeline.embedder, pipeline.embedder_options);
  Watch watch(gallery, *embedder, options);

  // Sources first: with --strict any that cannot be opened fails the call before anything is
  // written; otherwise each gets a line and the rest run.
  struct Failed {
    std::string source, reason;
    int code;
  };
  std::vector<Failed> failed;
  std::vector<std::string> opened;
  const bool several = a.sources.size() > 1;
  std::uint64_t total_frames = 0;
  for (const std::string& spec : a.sources) {
    std::vector<std::shared_ptr<WatchSink>> own;
    try {
      if (!a.annotate.empty()) {
        fs::path path = a.annotate;
        if (several) path = fs::path(a.annotate) / (source_stem(spec) + ".mp4");
        own.push_back(std::make_shared<AnnotatedVideoSink>(path));
      }
      watch.add_source(spec, own);
      opened.push_back(spec);
    } catch (const Error& e) {
      failed.push_back({spec, e.what(), e.exit_code()});
    }
  }
  for (const auto& f : failed)
    std::fprintf(stderr, "clipface: skipped %s: %s\n", f.source.c_str(), f.reason.c_str());
  if (opened.empty()) {
    if (failed.size() > 1) std::fprintf(stderr, "clipface: no source could be opened\n");
    return failed.front().code;
  }
  if (a.strict && !failed.empty()) {
    std::fprintf(
        stderr,
        "clipface: error: %zu of %zu sources cannot be used (--strict); nothing was written\n",
        failed.size(), a.sources.size());
    return failed.front().code;
  }
  if (several && !a.annotate.empty()) {
    std::error_code ec;
    fs::create_directories(a.annotate, ec);
    if (ec) throw InputError("cannot create " + a.annotate + ": " + ec.message());
  }

  std::shared_ptr<JsonLinesSink> events =
      a.events.empty() ? std::make_shared<JsonLinesSink>(stdout, "stdout", a.json_frames)
                       : JsonLinesSink::open(a.events, a.json_frames);
  watch.add_sink(events);
  auto presence = std::make_shared<PresenceLog>();
  watch.add_sink(presence);
  if (!a.snapshots.empty()) watch.add_sink(std::make_shared<SnapshotSink>(a.snapshots));
  for (int i = 0; i < watch.sources(); ++i) {
    const SourceInfo& info = watch.source_info(i);
    if (!info.live && info.frame_count > 0) {
      total_frames += static_cast<std::uint64_t>((info.frame_count + a.every - 1) / a.every);
    }
  }
  auto progress = std::make_shared<ProgressSink>(total_frames, !a.quiet);
  watch.add_sink(progress);

  g_watch = &watch;
  install_stop_handlers();
  WatchReport report;
  try {
    report = watch.run();
  } catch (...) {
    g_watch = nullptr;
    progress->finish();
    throw;
  }
  g_watch = nullptr;
  progress->finish();

  int code = failed.empty() ? 0 : failed.front().code;
  bool partial = !failed.empty();
  for (const SourceReport& r : report.sources) {
    std::fprintf(stderr, "clipface: %s: %s\n", r.info.name.c_str(), describe(r).c_str());
    const bool damaged = r.stats.end == SourceEnd::truncated || r.stats.corrupt > 0;
    if (r.stats.end == SourceEnd::truncated || r.stats.end == SourceEnd::lost) {
      std::fprintf(stderr, "clipface: %s: %s\n", r.info.name.c_str(), r.stats.message.c_str());
    }
    if (damaged || r.stats.end == SourceEnd::lost) {
      partial = true;
      if (code == 0) code = r.stats.end == SourceEnd::lost ? 6 : 3;
    }
  }
  if (!a.summary_csv.empty()) presence->write_csv(a.summary_csv);
  if (!a.summary_json.empty()) presence->write_json(a.summary_json);
  if (!a.events.empty()) print_presence_table(*presence);
  if (report.stopped)
    std::fprintf(stderr, "clipface: stopped; everything written so far is complete\n");
  if (!partial) return 0;
  const bool used = std::any_of(report.sources.begin(), report.sources.end(),
                                [](const SourceReport& r) { return r.processed > 0; });
  if (!used) return code;
  return a.allow_skips ? 0 : kPartialExit;
}

const bool registered = register_command(
    "watch",
    "name and track every face in video files, cameras, streams or image folders (events as "
    "JSON lines)",
    [](CLI::App& app) {
      auto a = std::make_shared<WatchArgs>();
      app.add_option("gallery", a->gallery, "gallery folder")->required();
      app.add_option("sources", a->sources,
                     "video files (mp4, mkv, avi, webm...), cameras (/dev/videoN or N), streams "
                     "(rtsp://, http(s)://), or folders / globs of images taken as frames")
          ->required();
      a->pipeline.add_to(app);
      a->vote.add_to(app);
      app.add_option("--every", a->every, "process every Nth frame")->check(CLI::PositiveNumber);
      app.add_option("--max-fps", a->max_fps, "process at most F frames per second of video")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--roi", a->roi,
                     "region of interest x,y,width,height in pixels (or fractions when all <= 1)");
      app.add_option("--detect-side", a->detect_side,
                     "longer side frames are scaled to for detection (YuNet finds faces from ~10 "
                     "px; 0 = full size)");
      app.add_option(
             "--embed-every", a->embed_every,
             "frames between embeddings of a tracked face (sooner for a clearly better face)")
          ->check(CLI::PositiveNumber);
      app.add_option("--lost-seconds", a->lost_seconds,
                     "how long a hidden face's track waits to be found again by motion");
      app.add_option(
          "--link-seconds", a->link_seconds,
          "how long someone who left keeps their track id when they come back (by face)");
      app.add_flag("--no-unknown-ids", a->no_unknown_ids,
                   "label strangers Unknown instead of unknown-1, unknown-2 ...");
      app.add_flag("--realtime", a->realtime,
                   "read video files at their frame rate, like a camera (frames may be dropped)");
      app.add_option("--images-fps", a->images_fps, "frame rate given to folders of images")
          ->check(CLI::PositiveNumber);
      app.add_option(
          "--reconnect", a->reconnect,
          "streams: reconnection attempts (waiting 0.5 s, 1 s, 2 s, 4 s...) before giving up");
      app.add_option("--read-timeout", a->read_timeout,
                     "streams: seconds without data before reconnecting");
      app.add_option("--events", a->events, "write the JSON lines here instead of stdout");
      app.add_flag("--json-frames", a->json_frames, "also one JSON line per processed frame");
      app.add_option("--annotate", a->annotate,
                     "annotated video (.mp4, .mov, .mkv); a folder when there are several sources");
      app.add_option("--snapshots", a->snapshots,
                     "write the best face of each track to this folder");
      app.add_option("--summary-csv", a->summary_csv, "who was present when, as CSV");
      app.add_option("--summary-json", a->summary_json, "who was present when, as JSON");
      app.add_flag("-q,--quiet", a->quiet, "no progress on stderr");
      app.add_flag("--strict", a->strict,
                   "fail before writing anything if a source cannot be opened");
      app.add_flag("--allow-skips", a->allow_skips,
                   "exit 0 rather than 7 when some sources were skipped or damaged");
      return [a]() { return run_watch(*a); };
    });

}  // namespace
}  // namespace clipface::app
