// Subjects and their faces ("examples" in CompreFace): create, list, rename (merging onto an
// existing name), delete; faces added from one image, listed by page, removed by id, by subject or
// by a list of ids. Every write is committed, then published to searches, then answered.
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>

#include "clipface/checksum.hpp"
#include "serve/api_error.hpp"
#include "serve/routes.hpp"

namespace clipface::serve_detail {
namespace {
using nlohmann::json;

[[noreturn]] void subject_not_found(const std::string& subject) {
  throw ApiError(404, code::subject_not_found, "Subject '" + subject + "' not found");
}

bool has_subject(Service& s, const std::string& subject) {
  for (const auto& p : s.gallery().people()) {
    if (p.name == subject) return true;
  }
  return false;
}

// {"subject": "<name>"} from the JSON body.
std::string subject_from_body(const Call& c) {
  const json& j = c.body.json();
  if (!j.is_object() || !j.contains("subject") || !j["subject"].is_string() ||
      j["subject"].get<std::string>().empty()) {
    throw ApiError(400, code::missing_parameter, "the body needs {\"subject\": \"<name>\"}");
  }
  return j["subject"].get<std::string>();
}

json face_record_json(const FaceRecord& f) {
  const auto& b = f.face.box;
  return {{"image_id", std::to_string(f.id)},
          {"subject", f.person},
          {"face_id", f.id},
          {"box",
           {{"probability", std::round(f.face.score * 1e5) / 1e5},
            {"x_min", std::lround(b.x)},
            {"y_min", std::lround(b.y)},
            {"x_max", std::lround(b.x + b.width)},
            {"y_max", std::lround(b.y + b.height)}}},
          {"has_crop", f.has_crop}};
}

std::int64_t face_id_from(const std::string& text) {
  std::size_t used = 0;
  long long id = -1;
  try {
    id = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || id < 0) {
    throw ApiError(404, code::image_not_found, "no face with id '" + text + "'");
  }
  return id;
}

std::string names_of(const std::vector<FaceRecord>& faces) {
  std::string out;
  for (const auto& f : faces) {
    if (("," + out + ",").find("," + f.person + ",") != std::string::npos) continue;
    if (!out.empty()) out += ',';
    out += f.person;
  }
  return out;
}

// --- subjects ---

void add_subject(Service& s, Call& c) {
  const std::string subject = subject_from_body(c);
  c.audit.subject = subject;
  if (!s.gallery().add_person(subject)) {
    throw ApiError(409, code::subject_exists, "Subject '" + subject + "' already exists");
  }
  s.publish();
  send_json(c.res, 201, {{"subject", subject}});
}

void list_subjects(Service& s, Call& c) {
  json names = json::array();
  json details = json::array();
  for (const auto& p : s.gallery().people()) {
    names.push_back(p.name);
    details.push_back(
        {{"subject", p.name}, {"faces", p.faces}, {"images", p.images}, {"created", p.created}});
  }
  send_json(c.res, 200, {{"subjects", names}, {"details", details}});
}

void rename_subject(Service& s, Call& c) {
  const std::string from = c.path_param("subject");
  const std::string to = subject_from_body(c);
  c.audit.subject = from + "," + to;
  if (!has_subject(s, from)) subject_not_found(from);
  bool merged = false;
  if (from != to) {
    try {
      if (has_subject(s, to)) {
        c.audit.faces = s.gallery().merge(FaceGroup{from}, FaceGroup{to});
        merged = true;
      } else {
        s.gallery().rename_person(from, to);
      }
    } catch (const InputError&) {  // another request got there first
      if (!has_subject(s, from)) subject_not_found(from);
      if (merged || !has_subject(s, to)) throw;
      c.audit.faces = s.gallery().merge(FaceGroup{from}, FaceGroup{to});
      merged = true;
    }
    s.publish();
  }
  send_json(c.res, 200, {{"updated", true}, {"merged", merged}, {"subject", to}});
}

void delete_subject(Service& s, Call& c) {
  const std::string subject = c.path_param("subject");
  c.audit.subject = subject;
  try {
    c.audit.faces = s.gallery().remove_person(subject);
  } catch (const InputError&) {
    subject_not_found(subject);
  }
  s.publish();
  send_json(c.res, 200, {{"subject", subject}, {"deleted_faces", c.audit.faces}});
}

void delete_all_subjects(Service& s, Call& c) {
  const int removed = s.gallery().remove_all_people();
  s.publish();
  send_json(c.res, 200, {{"deleted", removed}});
}

// --- faces ---

void add_face(Service& s, Call& c) {
  const std::string subject = required_param(c.req, "subject");
  c.audit.subject = subject;
  const Image image = image_field(c.req, c.body, "file");
  const cv::Mat pixels = decode(image);
  FaceFilter filter;
  filter.min_score =
      static_cast<float>(float_param(c.req, "det_prob_threshold", s.default_min_score(), 0, 1));
  const std::string sha = sha256_hex(
      std::string_view(reinterpret_cast<const char*>(image.bytes.data()), image.bytes.size()));
  const EnrolledFace added =
      enroll_image(s.gallery(), s.pipeline(), subject, pixels, "upload:" + image.name, sha, filter);
  s.publish();
  c.audit.faces = 1;
  send_json(c.res, 201,
            {{"image_id", std::to_string(added.face_id)},
             {"subject", subject},
             {"face_id", added.face_id},
             {"box", box_json(added.face, pixels.cols, pixels.rows)},
             {"box_raw", box_raw_json(added.face)},
             {"landmarks", landmarks_json(added.face)}});
}

void list_faces(Service& s, Call& c) {
  const int page = int_param(c.req, "page", 0, 0, 1 << 30);
  const int size = int_param(c.req, "size", 20, 1, 10000);
  const std::string subject = string_param(c.req, "subject");
  if (!subject.empty() && !has_subject(s, subject)) subject_not_found(subject);
  const FacePage faces =
      s.gallery().list_faces(subject, static_cast<std::int64_t>(page) * size, size);
  json list = json::array();
  for (const auto& f : faces.faces) list.push_back(face_record_json(f));
  send_json(c.res, 200,
            {{"faces", list},
             {"page_number", page},
             {"page_size", size},
             {"total_pages", (faces.total + size - 1) / size},
             {"total_elements", faces.total}});
}

void delete_faces(Service& s, Call& c, const std::vector<std::int64_t>& ids) {
  const auto removed = s.gallery().remove_labelled_faces(ids);
  if (!removed.empty()) s.publish();
  c.audit.subject = names_of(removed);
  c.audit.faces = static_cast<int>(removed.size());
}

// DELETE /faces?subject=: every face of one subject (the subject stays), or of everyone.
void delete_faces_of(Service& s, Call& c) {
  const std::string subject = string_param(c.req, "subject");
  if (!subject.empty() && !has_subject(s, subject)) subject_not_found(subject);
  std::vector<std::int64_t> ids;
  const FacePage all = s.gallery().list_faces(subject, 0, std::numeric_limits<int>::max());
  for (const auto& f : all.faces) ids.push_back(f.id);
  delete_faces(s, c, ids);
  c.audit.subject = subject;
  send_json(c.res, 200, {{"deleted", c.audit.faces}});
}

void delete_face(Service& s, Call& c) {
  const std::int64_t id = face_id_from(c.path_param("image_id"));
  const auto face = s.gallery().face(id);
  if (!face) throw ApiError(404, code::image_not_found, "no face with id " + std::to_string(id));
  delete_faces(s, c, {id});
  send_json(c.res, 200, {{"image_id", std::to_string(id)}, {"subject", face->person}});
}

// POST /faces/delete with ["id", ...]: ids that do not exist are ignored (CompreFace).
void delete_face_list(Service& s, Call& c) {
  const json& j = c.body.json();
  if (!j.is_array()) {
    throw ApiError(400, code::validation, "the body must be a JSON array of image ids");
  }
  std::vector<std::int64_t> ids;
  for (const auto& item : j) {
    std::string text = item.is_string()           ? item.get<std::string>()
                       : item.is_number_integer() ? std::to_string(item.get<std::int64_t>())
                                                  : "";
    try {
      ids.push_back(face_id_from(text));
    } catch (const ApiError&) {
      // Not an id of ours: nothing to delete.
    }
  }
  std::vector<FaceRecord> removed = s.gallery().remove_labelled_faces(ids);
  if (!removed.empty()) s.publish();
  c.audit.subject = names_of(removed);
  c.audit.faces = static_cast<int>(removed.size());
  json out = json::array();
  for (const auto& f : removed)
    out.push_back({{"image_id", std::to_string(f.id)}, {"subject", f.person}});
  send_json(c.res, 200, out);
}

// The aligned crop the embedder saw (clipface keeps crops, not the uploaded photos).
void face_image(Service& s, Call& c) {
  const std::int64_t id = face_id_from(c.path_param("image_id"));
  const std::string png = s.gallery().crop_png(id);
  if (png.empty()) {
    throw ApiError(404, code::image_not_found, "no stored crop for face " + std::to_string(id));
  }
  c.res.status = 200;
  c.res.set_header("Cache-Control", "no-store");
  c.res.set_content(png, "image/png");
}

}  // namespace

std::vector<Route> subject_routes(Service& s) {
  return {
      {"POST", "/api/v1/recognition/subjects", Scope::manage, [&s](Call& c) { add_subject(s, c); }},
      {"GET", "/api/v1/recognition/subjects", Scope::recognize,
       [&s](Call& c) { list_subjects(s, c); }},
      {"PUT", "/api/v1/recognition/subjects/{subject}", Scope::manage,
       [&s](Call& c) { rename_subject(s, c); }},
      {"DELETE", "/api/v1/recognition/subjects/{subject}", Scope::manage,
       [&s](Call& c) { delete_subject(s, c); }},
      {"DELETE", "/api/v1/recognition/subjects", Scope::manage,
       [&s](Call& c) { delete_all_subjects(s, c); }},
  };
}

std::vector<Route> face_routes(Service& s) {
  return {
      {"POST", "/api/v1/recognition/faces", Scope::manage, [&s](Call& c) { add_face(s, c); }},
      {"GET", "/api/v1/recognition/faces", Scope::recognize, [&s](Call& c) { list_faces(s, c); }},
      {"DELETE", "/api/v1/recognition/faces", Scope::manage,
       [&s](Call& c) { delete_faces_of(s, c); }},
      {"DELETE", "/api/v1/recognition/faces/{image_id}", Scope::manage,
       [&s](Call& c) { delete_face(s, c); }},
      {"POST", "/api/v1/recognition/faces/delete", Scope::manage,
       [&s](Call& c) { delete_face_list(s, c); }},
      {"GET", "/api/v1/recognition/faces/{image_id}/img", Scope::recognize,
       [&s](Call& c) { face_image(s, c); }},
  };
}

}  // namespace clipface::serve_detail
