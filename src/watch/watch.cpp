#include "clipface/watch.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <thread>

#include "clipface/errors.hpp"
#include "watch/source_pipeline.hpp"

namespace clipface {

std::string to_string(WatchEventKind kind) {
  switch (kind) {
    case WatchEventKind::track_started:
      return "track_started";
    case WatchEventKind::identified:
      return "identified";
    case WatchEventKind::track_ended:
      return "track_ended";
  }
  return "?";
}

std::string source_stem(const std::string& spec) {
  std::string name;
  switch (classify_source(spec)) {
    case SourceKind::camera:
      name = "camera" + (spec.rfind("/dev/video", 0) == 0 ? spec.substr(10) : spec);
      break;
    case SourceKind::stream: {
      const auto scheme = spec.find("://");
      name = spec.substr(scheme + 3);
      if (const auto query = name.find('?'); query != std::string::npos) name.resize(query);
      if (const auto at = name.find('@'); at != std::string::npos) name = name.substr(at + 1);
      break;
    }
    case SourceKind::images: {
      std::filesystem::path p(spec);
      while (!p.empty() && (p.filename().empty() ||
                            p.filename().string().find_first_of("*?[") != std::string::npos)) {
        p = p.parent_path();
      }
      name = p.filename().string();
      break;
    }
    case SourceKind::file:
      name = std::filesystem::path(spec).stem().string();
      break;
  }
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
  }
  while (!name.empty() && (name.back() == '_' || name.back() == '.')) name.pop_back();
  return name.empty() ? "source" : name;
}

namespace {

// The options as the stages use them: the detector runs at the tracker's low score and at the
// detection size; thresholds left at "default" are taken from the vote rule.
WatchOptions resolve(WatchOptions o) {
  validate(o.vote);
  if (o.every < 1) throw InputError("--every must be at least 1");
  if (o.max_fps < 0) throw InputError("--max-fps must not be negative");
  if (o.embed_every < 1) throw InputError("--embed-every must be at least 1");
  if (o.better_face < 1) throw InputError("better_face must be at least 1");
  if (o.detect_side < 64 && o.detect_side != 0)
    throw InputError("--detect-side must be at least 64");
  if (o.lost_seconds < 0) throw InputError("--lost-seconds must not be negative");
  if (o.roi && (o.roi->width <= 0 || o.roi->height <= 0 || o.roi->x < 0 || o.roi->y < 0)) {
    throw InputError("the region of interest needs x, y >= 0 and a positive width and height");
  }
  o.tracker.high_score = o.detector.score_threshold;
  o.tracker.low_score = std::min(o.tracker.low_score, o.tracker.high_score);
  o.tracker.new_track_score = std::max(o.tracker.new_track_score, o.tracker.high_score);
  o.detector.score_threshold = o.tracker.low_score;
  o.detector.max_side = o.detect_side;
  if (o.identity.link_threshold < 0) o.identity.link_threshold = o.vote.threshold;
  o.queue_frames = std::max<std::size_t>(1, o.queue_frames);
  return o;
}

}  // namespace

struct Watch::Impl {
  Impl(const Gallery& gallery, const Embedder& embedder, WatchOptions o)
      : options(resolve(std::move(o))), run(gallery, embedder, options) {
    gallery.require_model(embedder.info());
    LabelVote check(options.vote.threshold, options.identity);  // validates the options
    (void)check;
    Tracker tracker_check(options.tracker);
    (void)tracker_check;
  }

  WatchOptions options;
  detail::SharedRun run;
  std::vector<std::unique_ptr<detail::SourcePipeline>> sources;
  std::vector<std::shared_ptr<WatchSink>> sinks;
  bool ran = false;
};

Watch::Watch(const Gallery& gallery, const Embedder& embedder, WatchOptions options)
    : impl_(std::make_unique<Impl>(gallery, embedder, std::move(options))) {}

Watch::~Watch() = default;

const WatchOptions& Watch::options() const {
  return impl_->options;
}

int Watch::add_source(const std::string& spec, std::vector<std::shared_ptr<WatchSink>> sinks) {
  if (impl_->ran) throw InputError("watch: sources are added before run()");
  auto source = open_source(spec, impl_->options.source);
  const int index = static_cast<int>(impl_->sources.size());
  impl_->sources.push_back(std::make_unique<detail::SourcePipeline>(index, std::move(source),
                                                                    impl_->run, std::move(sinks)));
  return index;
}

void Watch::add_sink(std::shared_ptr<WatchSink> sink) {
  if (impl_->ran) throw InputError("watch: sinks are added before run()");
  impl_->sinks.push_back(std::move(sink));
}

int Watch::sources() const {
  return static_cast<int>(impl_->sources.size());
}

const SourceInfo& Watch::source_info(int index) const {
  return impl_->sources.at(static_cast<std::size_t>(index))->info();
}

WatchReport Watch::run() {
  if (impl_->ran) throw InputError("watch: run() once");
  impl_->ran = true;
  auto& sources = impl_->sources;
  for (auto& s : sources) {
    for (const auto& sink : impl_->sinks) s->add_sink(sink);
  }
  try {
    for (auto& s : sources) s->begin();
  } catch (...) {
    impl_->run.fail(std::current_exception());
  }
  const bool started = !impl_->run.failed();
  if (started) {
    for (auto& s : sources) s->start();
  }
  // Waits for the pipelines; a stop request (possibly from a signal handler, which cannot
  // notify anything) or an error is noticed within a few milliseconds and interrupts the
  // sources, whose blocking reads then return.
  bool interrupted = false;
  while (started &&
         !std::all_of(sources.begin(), sources.end(), [](const auto& s) { return s->done(); })) {
    if (!interrupted && (stop_requested_.load() || impl_->run.failed())) {
      for (auto& s : sources) s->interrupt();
      interrupted = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  WatchReport report;
  for (auto& s : sources) {
    s->join();
    report.sources.push_back(s->report());
  }
  for (std::size_t i = 0; i < sources.size(); ++i) sources[i]->end(report.sources[i]);
  report.strangers = impl_->run.strangers.count();
  report.stopped = stop_requested_.load();
  if (auto error = impl_->run.error()) std::rethrow_exception(error);
  return report;
}

}  // namespace clipface
