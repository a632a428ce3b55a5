// Recognize, verify, detect and embed: an image in, its faces out, in CompreFace's shapes
// (docs/Rest-API-description.md of exadel-inc/CompreFace) with clipface's fields beside them.
#include <opencv2/core.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "clipface/classify.hpp"
#include "serve/api_error.hpp"
#include "serve/routes.hpp"

namespace clipface::serve_detail {
namespace {
using nlohmann::json;

double rounded(double v) {
  return std::round(v * 1e5) / 1e5;
}

// CompreFace's `limit` (largest faces first, 0 = all) and `det_prob_threshold`.
FaceFilter face_filter(const httplib::Request& req, const Service& s) {
  FaceFilter filter;
  filter.max_faces = int_param(req, "limit", 0, 0, 10000);
  filter.min_score =
      static_cast<float>(float_param(req, "det_prob_threshold", s.default_min_score(), 0, 1));
  return filter;
}

// face_plugins: "calculator" adds the embedding; landmarks are always there; CompreFace's other
// plugins (age, gender, mask, pose) do not exist here and are ignored.
std::set<std::string> plugins(const httplib::Request& req) {
  std::set<std::string> out;
  const std::string text = string_param(req, "face_plugins");
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    out.insert(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

json embedder_json(const EmbedderInfo& info) {
  return {{"name", info.name},
          {"checksum", info.checksum},
          {"crop_style", info.crop_style},
          {"dim", info.dim},
          {"random_weights", info.random_weights}};
}

json face_json(const Face& face, cv::Size size) {
  return {{"box", box_json(face, size.width, size.height)},
          {"box_raw", box_raw_json(face)},
          {"landmarks", landmarks_json(face)}};
}

json embedding_json(std::span<const float> v) {
  json out = json::array();
  for (float x : v) out.push_back(x);
  return out;
}

// status=true: which models ran (CompreFace's plugins_versions) and the time it took.
void add_status(json& out, const httplib::Request& req, const Service& s,
                std::chrono::steady_clock::time_point start) {
  if (!bool_param(req, "status", false)) return;
  out["plugins_versions"] = {{"detector", s.pipeline().detector().name()},
                             {"calculator", s.pipeline().embedder().info().name}};
  out["execution_time"] = {{"total_ms", std::chrono::duration<double, std::milli>(
                                            std::chrono::steady_clock::now() - start)
                                            .count()}};
}

// The most similar subjects, best first, one entry each (CompreFace's `subjects`).
json top_subjects(const std::vector<Neighbor>& nearest, int count) {
  json out = json::array();
  std::set<std::string> seen;
  for (const auto& n : nearest) {
    if (static_cast<int>(out.size()) >= count) break;
    if (!seen.insert(n.person).second) continue;
    out.push_back({{"subject", n.person}, {"similarity", rounded(n.cosine)}});
  }
  return out;
}

json decision_json(const Decision& d, const KnnVote& rule) {
  return {{"label", d.label},
          {"known", d.known()},
          {"score", rounded(d.score)},
          {"distance", rounded(l2_from_cosine(d.score))},
          {"mean_cosine", rounded(d.mean_cosine)},
          {"votes", d.votes},
          {"voters", d.voters},
          {"widened", d.widened},
          {"nearest", d.nearest},
          {"rule", {{"k1", rule.k1}, {"k2", rule.k2}, {"threshold", rounded(rule.threshold)}}}};
}

KnnVote vote_from(const httplib::Request& req, const Service& s) {
  KnnVote rule = s.default_vote();
  rule.k1 = int_param(req, "k1", rule.k1, 1, 1000);
  rule.k2 = std::max(rule.k1, int_param(req, "k2", rule.k2, 1, 1000));
  rule.threshold = static_cast<float>(float_param(req, "threshold", rule.threshold, 0, 2));
  return rule;
}

[[noreturn]] void no_face(const std::string& image) {
  throw ApiError(400, code::no_faces, "No face is found in the given image (" + image + ")");
}

void recognize(Service& s, Call& c) {
  const auto start = std::chrono::steady_clock::now();
  const Image image = image_field(c.req, c.body, "file");
  const cv::Mat pixels = decode(image);
  const FaceFilter filter = face_filter(c.req, s);
  const int prediction_count = int_param(c.req, "prediction_count", 1, 1, 1000);
  const KnnVote rule = vote_from(c.req, s);
  const bool with_embedding = plugins(c.req).count("calculator") > 0;
  const auto snapshot = s.snapshot();
  const Recognizer recognizer(snapshot, s.pipeline(), rule);
  // Enough neighbours for the vote and for `prediction_count` different subjects.
  const int wanted = std::max(rule.k2, 10 * prediction_count);
  Identification found = recognizer.identify(pixels, filter, wanted);
  if (found.faces.empty()) no_face(image.name);

  json result = json::array();
  std::string names;
  for (auto& named : found.faces) {
    std::vector<Neighbor> nearest = named.neighbours;
    const bool maybe_more = static_cast<int>(nearest.size()) == wanted;
    if (maybe_more &&
        static_cast<int>(top_subjects(nearest, prediction_count).size()) < prediction_count) {
      // One person's many photos crowd the list: look further, as far as the gallery goes.
      Matrix q(1, named.embedding.size());
      std::copy(named.embedding.begin(), named.embedding.end(), q.data.begin());
      nearest = snapshot->search(q, static_cast<int>(snapshot->size()))[0];
    }
    json face = face_json(named.face, found.size);
    face["subjects"] = top_subjects(nearest, prediction_count);
    face["decision"] = decision_json(named.decision, rule);
    if (with_embedding) face["embedding"] = embedding_json(named.embedding);
    result.push_back(std::move(face));
    if (named.decision.known()) {
      if (!names.empty()) names += ',';
      names += named.decision.label;
    }
  }
  json out = {{"result", result}, {"embedder", embedder_json(s.pipeline().embedder().info())}};
  add_status(out, c.req, s, start);
  c.audit.subject = names;
  c.audit.faces = static_cast<int>(found.faces.size());

  // The live events: what was recognized (no image, no embedding), and a picture for previews.
  json event = {
      {"faces", json::array()}, {"width", found.size.width}, {"height", found.size.height}};
  for (const auto& f : result) {
    event["faces"].push_back(
        {{"label", f["decision"]["label"]}, {"score", f["decision"]["score"]}, {"box", f["box"]}});
  }
  if (c.key) event["key_id"] = c.key->id;
  s.events().publish({"recognition", "api", event.dump()});
  if (s.events().wants_frames("api"))
    s.events().publish_frame("api", annotate(pixels, found.faces));
  send_json(c.res, 200, out);
}

// The embedding of an image's most prominent face that passes the filter.
struct Probe {
  ImageFaces faces;
  std::string name;
};
Probe probe(Service& s, Call& c, const std::string& field, const FaceFilter& filter) {
  const Image image = image_field(c.req, c.body, field);
  Probe p{s.pipeline().process(decode(image), filter), image.name};
  if (p.faces.faces.empty()) no_face(image.name);
  return p;
}

json match_json(float cosine, float threshold) {
  const float l2 = l2_from_cosine(cosine);
  return {{"similarity", rounded(cosine)},
          {"distance", rounded(l2)},
          {"same", l2 <= threshold},
          {"threshold", rounded(threshold)}};
}

// /verification/verify: source_image against every face of target_image (CompreFace), or
// against the stored faces of ?subject= (clipface).
void verify(Service& s, Call& c) {
  const auto start = std::chrono::steady_clock::now();
  const FaceFilter filter = face_filter(c.req, s);
  const float threshold =
      static_cast<float>(float_param(c.req, "threshold", s.default_vote().threshold, 0, 2));
  const std::string subject = string_param(c.req, "subject");
  const std::string source_field =
      has_image_field(c.req, c.body, "source_image") || subject.empty() ? "source_image" : "file";
  const Probe source = probe(s, c, source_field, filter);
  const auto source_row = source.faces.embeddings.row(0);
  json source_face = face_json(source.faces.faces[0], source.faces.size);
  json matches = json::array();
  json verdict;
  if (!subject.empty()) {
    Matrix stored;
    std::vector<FaceRecord> records;
    try {
      stored = s.gallery().person_embeddings(subject);
      records = s.gallery().faces(subject);
    } catch (const InputError&) {
      throw ApiError(404, code::subject_not_found, "Subject '" + subject + "' not found");
    }
    float best = -1;
    for (std::size_t i = 0; i < stored.rows && i < records.size(); ++i) {
      const float cosine = dot(source_row, stored.row(i));
      best = std::max(best, cosine);
      json m = match_json(cosine, threshold);
      m["image_id"] = std::to_string(records[i].id);
      m["subject"] = subject;
      matches.push_back(std::move(m));
    }
    std::sort(matches.begin(), matches.end(),
              [](const json& a, const json& b) { return a["similarity"] > b["similarity"]; });
    verdict = stored.rows == 0 ? json{{"subject", subject}, {"same", false}, {"faces", 0}}
                               : match_json(best, threshold);
    verdict["subject"] = subject;
    verdict["faces"] = stored.rows;
    c.audit.subject = subject;
  } else {
    const Probe target = probe(s, c, "target_image", filter);
    for (std::size_t i = 0; i < target.faces.faces.size(); ++i) {
      json m = face_json(target.faces.faces[i], target.faces.size);
      m.update(match_json(dot(source_row, target.faces.embeddings.row(i)), threshold));
      matches.push_back(std::move(m));
    }
    verdict = matches[0];
  }
  c.audit.faces = static_cast<int>(matches.size());
  json out = {{"result", json::array({{{"source_image_face", source_face},
                                       {"face_matches", matches},
                                       {"verdict", verdict}}})},
              {"embedder", embedder_json(s.pipeline().embedder().info())}};
  add_status(out, c.req, s, start);
  send_json(c.res, 200, out);
}

void detect(Service& s, Call& c, bool always_embed) {
  const auto start = std::chrono::steady_clock::now();
  const bool with_embedding = always_embed || plugins(c.req).count("calculator") > 0;
  const FaceFilter filter = face_filter(c.req, s);
  const Image image = image_field(c.req, c.body, "file");
  const cv::Mat pixels = decode(image);
  json result = json::array();
  if (with_embedding) {
    const ImageFaces found = s.pipeline().process(pixels, filter);
    for (std::size_t i = 0; i < found.faces.size(); ++i) {
      json face = face_json(found.faces[i], found.size);
      face["embedding"] = embedding_json(found.embeddings.row(i));
      result.push_back(std::move(face));
    }
  } else {
    // Detection alone: no alignment, no embedding.
    std::vector<Face> faces = s.pipeline().detector().detect(pixels);
    filter_faces(faces, filter);
    for (const Face& f : faces) result.push_back(face_json(f, pixels.size()));
  }
  if (result.empty()) no_face(image.name);
  c.audit.faces = static_cast<int>(result.size());
  json out = {{"result", result}};
  if (with_embedding) out["embedder"] = embedder_json(s.pipeline().embedder().info());
  add_status(out, c.req, s, start);
  send_json(c.res, 200, out);
}

}  // namespace

std::vector<Route> recognition_routes(Service& s) {
  return {
      {"POST", "/api/v1/recognition/recognize", Scope::recognize,
       [&s](Call& c) { recognize(s, c); }},
      {"POST", "/api/v1/verification/verify", Scope::recognize, [&s](Call& c) { verify(s, c); }},
      {"POST", "/api/v1/detection/detect", Scope::recognize,
       [&s](Call& c) { detect(s, c, false); }},
      {"POST", "/api/v1/embed", Scope::recognize, [&s](Call& c) { detect(s, c, true); }},
  };
}

}  // namespace clipface::serve_detail
