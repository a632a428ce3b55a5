#include "serve/live_sources.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "clipface/errors.hpp"

namespace clipface {
namespace {

bool plain_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

LiveSource parse_live_source(const std::string& text) {
  const auto eq = text.find('=');
  std::error_code ec;
  if (eq != std::string::npos && !std::filesystem::exists(text, ec) &&
      plain_name(text.substr(0, eq))) {
    return {text.substr(0, eq), text.substr(eq + 1)};
  }
  return {"", text};
}

std::vector<LiveSource> read_live_sources(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError("cannot read the sources file " + file.string());
  std::vector<LiveSource> sources;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
    sources.push_back(parse_live_source(line));
  }
  return sources;
}

namespace serve_detail {

LiveWatchSink::LiveWatchSink(std::string name, LiveEventSink& live,
                             std::function<void(const std::string&, const SourceReport&)> on_end)
    : name_(std::move(name)), live_(live), on_end_(std::move(on_end)) {}

void LiveWatchSink::begin(int, const SourceInfo& info) {
  nlohmann::ordered_json j = {{"source", name_},
                              {"live", info.live},
                              {"fps", info.fps},
                              {"width", info.size.width},
                              {"height", info.size.height}};
  if (info.frame_count >= 0) j["frames"] = info.frame_count;
  live_.publish({"source_started", name_, j.dump()});
}

void LiveWatchSink::event(const WatchEvent& event) {
  WatchEvent named = event;
  named.source_name = name_;
  live_.publish({to_string(event.kind), name_, to_json(named)});
}

void LiveWatchSink::frame(const WatchFrame&, const cv::Mat&, const cv::Mat& annotated) {
  if (live_.wants_frames(name_)) live_.publish_frame(name_, annotated);
}

void LiveWatchSink::end(int, const SourceReport& report) {
  nlohmann::ordered_json j = {{"source", name_},
                              {"frames", report.processed},
                              {"fps", std::round(report.fps * 10) / 10},
                              {"tracks", report.tracks},
                              {"dropped", report.dropped},
                              {"corrupt", report.stats.corrupt},
                              {"reconnects", report.stats.reconnects}};
  if (!report.stats.message.empty()) j["message"] = report.stats.message;
  live_.publish({"source_ended", name_, j.dump()});
  if (on_end_) on_end_(name_, report);
}

LiveSources::LiveSources(const Gallery& gallery, const Embedder& embedder,
                         const ServeOptions& options, const KnnVote& vote, LiveEventSink& live) {
  WatchOptions o = options.watch;
  o.detector = options.pipeline.detector;
  o.vote = vote;
  watch_ = std::make_unique<Watch>(gallery, embedder, o);
  std::set<std::string> names = {"api"};  // the REST API's own preview
  for (const LiveSource& source : options.sources) {
    const std::string name = source.name.empty() ? source_stem(source.spec) : source.name;
    if (!plain_name(name)) {
      throw InputError("source name '" + name + "' may hold only letters, digits, '-', '_', '.'");
    }
    if (!names.insert(name).second) {
      throw InputError("two sources are named '" + name + "': name them (NAME=SOURCE)");
    }
    try {
      watch_->add_source(source.spec,
                         {std::make_shared<LiveWatchSink>(name, live, options.on_source_end)});
    } catch (const Error& e) {
      skipped_.push_back({name, source.spec, e.what(), e.exit_code()});
    }
  }
}

LiveSources::~LiveSources() {
  stop();
}

void LiveSources::start() {
  std::lock_guard lock(mutex_);
  if (empty() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    try {
      watch_->run();
    } catch (const std::exception& e) {
      // The service goes on without them; the sources have ended and said so.
      spdlog::error("serve: live sources stopped: {}", e.what());
    }
  });
}

void LiveSources::stop() {
  std::lock_guard lock(mutex_);
  watch_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace serve_detail
}  // namespace clipface
