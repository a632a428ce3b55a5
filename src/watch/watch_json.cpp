// The JSON lines of watch: events and (with --json-frames) frames. Times in seconds and boxes in
// pixels are rounded to a thousandth and a tenth: more digits are noise.
#include <nlohmann/json.hpp>

#include <cmath>

#include "clipface/watch.hpp"

namespace clipface {
namespace {

// Divides by a power of ten so that the result prints as the short decimal it is.
double round_to(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}

nlohmann::ordered_json box_json(const cv::Rect2f& b) {
  return {round_to(b.x, 1), round_to(b.y, 1), round_to(b.width, 1), round_to(b.height, 1)};
}

}  // namespace

std::string to_json(const WatchEvent& e) {
  nlohmann::ordered_json j = {{"event", to_string(e.kind)},
                              {"source", e.source_name},
                              {"track", e.track},
                              {"frame", e.frame},
                              {"time", round_to(e.time, 3)},
                              {"label", e.label},
                              {"known", e.known}};
  if (e.label != kPending) j["score"] = round_to(e.score, 4);
  j["faces"] = e.faces;
  if (e.kind == WatchEventKind::identified) j["previous"] = e.previous;
  if (e.kind == WatchEventKind::track_ended) {
    j["first_frame"] = e.first_frame;
    j["first_time"] = round_to(e.first_time, 3);
    j["last_frame"] = e.last_frame;
    j["last_time"] = round_to(e.last_time, 3);
    j["frames"] = e.frames_seen;
    j["best_score"] = round_to(e.best_score, 4);
  }
  return j.dump();
}

std::string to_json(const WatchFrame& f) {
  nlohmann::ordered_json faces = nlohmann::ordered_json::array();
  for (const WatchFace& face : f.faces) {
    faces.push_back({{"track", face.track},
                     {"box", box_json(face.box)},
                     {"box_raw", box_json(face.box_raw)},
                     {"label", face.label},
                     {"known", face.known},
                     {"score", round_to(face.score, 4)}});
  }
  return nlohmann::ordered_json{{"source", f.source_name},
                                {"frame", f.frame},
                                {"time", round_to(f.time, 3)},
                                {"faces", faces}}
      .dump();
}

}  // namespace clipface
