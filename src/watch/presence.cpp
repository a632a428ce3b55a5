#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <sstream>

#include "clipface/paths.hpp"
#include "clipface/watch_sinks.hpp"

namespace clipface {
namespace {

std::string utc(std::chrono::system_clock::time_point start, double seconds) {
  const auto t = start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             std::chrono::duration<double>(seconds));
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", s);
  return text;
}

}  // namespace

void PresenceLog::begin(int source, const SourceInfo& info) {
  std::lock_guard lock(mutex_);
  sources_[source] = {info.name, info.live, std::chrono::system_clock::now()};
}

void PresenceLog::event(const WatchEvent& event) {
  if (event.kind != WatchEventKind::track_ended) return;
  std::lock_guard lock(mutex_);
  if (event.label == kPending) {
    ++undecided_;
  } else {
    ended_.push_back(event);
  }
}

int PresenceLog::undecided_tracks() const {
  std::lock_guard lock(mutex_);
  return undecided_;
}

std::vector<Presence> PresenceLog::people() const {
  std::lock_guard lock(mutex_);
  std::map<std::pair<std::string, int>, std::vector<const WatchEvent*>> groups;
  for (const WatchEvent& e : ended_) groups[{e.label, e.source}].push_back(&e);
  std::vector<Presence> out;
  for (auto& [key, tracks] : groups) {
    std::sort(tracks.begin(), tracks.end(), [](const WatchEvent* a, const WatchEvent* b) {
      return a->first_time < b->first_time;
    });
    Presence p;
    p.person = key.first;
    p.known = tracks.front()->known;
    const auto source = sources_.find(key.second);
    p.source = source != sources_.end() ? source->second.name : tracks.front()->source_name;
    p.tracks = static_cast<int>(tracks.size());
    for (const WatchEvent* t : tracks) {
      p.best_score = std::max(p.best_score, t->best_score);
      if (!p.intervals.empty() && t->first_time - p.intervals.back().end <= merge_seconds_) {
        p.intervals.back().end = std::max(p.intervals.back().end, t->last_time);
      } else {
        p.intervals.push_back({t->first_time, t->last_time});
      }
    }
    p.first_seen = p.intervals.front().start;
    p.last_seen = p.intervals.back().end;
    for (const auto& i : p.intervals) p.seconds += i.end - i.start;
    if (source != sources_.end() && source->second.live) {
      p.first_seen_utc = utc(source->second.started, p.first_seen);
      p.last_seen_utc = utc(source->second.started, p.last_seen);
    }
    out.push_back(std::move(p));
  }
  return out;
}

void PresenceLog::write_csv(const std::filesystem::path& path) const {
  std::ostringstream csv;
  csv << "person,known,source,first_seen,last_seen,seconds,visits,tracks,best_score,"
         "first_seen_utc,last_seen_utc\n";
  for (const Presence& p : people()) {
    csv << csv_field(p.person) << ',' << (p.known ? "true" : "false") << ',' << csv_field(p.source)
        << ',' << seconds_text(p.first_seen) << ',' << seconds_text(p.last_seen) << ','
        << seconds_text(p.seconds) << ',' << p.intervals.size() << ',' << p.tracks << ','
        << seconds_text(p.best_score) << ',' << p.first_seen_utc << ',' << p.last_seen_utc << '\n';
  }
  write_file_atomically(path, csv.str());
}

void PresenceLog::write_json(const std::filesystem::path& path) const {
  nlohmann::json list = nlohmann::json::array();
  for (const Presence& p : people()) {
    nlohmann::json intervals = nlohmann::json::array();
    for (const auto& i : p.intervals) {
      intervals.push_back({std::round(i.start * 1000) / 1000, std::round(i.end * 1000) / 1000});
    }
    nlohmann::json j = {{"person", p.person},
                        {"known", p.known},
                        {"source", p.source},
                        {"first_seen", std::round(p.first_seen * 1000) / 1000},
                        {"last_seen", std::round(p.last_seen * 1000) / 1000},
                        {"seconds", std::round(p.seconds * 1000) / 1000},
                        {"intervals", intervals},
                        {"tracks", p.tracks},
                        {"best_score", std::round(p.best_score * 10000) / 10000}};
    if (!p.first_seen_utc.empty()) {
      j["first_seen_utc"] = p.first_seen_utc;
      j["last_seen_utc"] = p.last_seen_utc;
    }
    list.push_back(std::move(j));
  }
  const nlohmann::json doc = {{"people", list}, {"undecided_tracks", undecided_tracks()}};
  write_file_atomically(path, doc.dump(2) + "\n");
}

}  // namespace clipface
