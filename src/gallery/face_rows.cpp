#include "gallery/face_rows.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "clipface/errors.hpp"

namespace clipface::gallery_detail {

std::string landmarks_json(const Face& face) {
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : face.landmarks) points.push_back({p.x, p.y});
  return points.dump();
}

void parse_landmarks(const std::string& text, Face& face) {
  const auto points = nlohmann::json::parse(text, nullptr, false);
  if (!points.is_array() || points.size() != face.landmarks.size()) return;
  for (std::size_t i = 0; i < face.landmarks.size(); ++i) {
    face.landmarks[i] = {points[i][0].get<float>(), points[i][1].get<float>()};
  }
}

float vector_norm(const float* v, std::size_t n) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(v[i]) * v[i];
  return static_cast<float>(std::sqrt(sum));
}

std::string describe_model(const EmbedderInfo& m) {
  return m.name + " (" +
         (m.checksum.empty() ? std::string("no checksum") : m.checksum.substr(0, 12)) + ", " +
         m.crop_style + ", " + std::to_string(m.dim) + "-d)";
}

void check_vector(const Gallery::Impl& g, const std::vector<float>& v, const std::string& which) {
  const auto dim = static_cast<std::size_t>(g.model.dim);
  if (v.size() != dim) {
    throw InputError(which + ": embedding has " + std::to_string(v.size()) +
                     " values, the gallery " + std::to_string(dim));
  }
  const float n = vector_norm(v.data(), dim);
  if (!std::isfinite(n) || std::fabs(n - 1.0f) > kUnitTolerance) {
    throw InputError(which + ": embedding is not a unit vector (norm " + std::to_string(n) + ")");
  }
}

void validate_enrollments(const Gallery::Impl& g, const std::vector<Enrollment>& faces,
                          Labels labels) {
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const Enrollment& e = faces[i];
    const std::string which =
        "enrollment " + std::to_string(i) + " (" + e.person + ", " + e.image_path + ")";
    if (labels == Labels::named && e.person.empty())
      throw InputError(which + ": empty person name");
    if (labels != Labels::named && !e.person.empty()) {
      throw InputError(which + ": an unlabelled face cannot have a person");
    }
    if (e.image_sha256.empty()) throw InputError(which + ": missing image sha256");
    check_vector(g, e.embedding, which);
  }
}

std::vector<std::int64_t> insert_faces(Gallery::Impl& g, const std::vector<Enrollment>& faces,
                                       Labels labels) {
  const auto dim = static_cast<std::size_t>(g.model.dim);
  auto add_person = g.db->prepare("INSERT OR IGNORE INTO people(name) VALUES (?)");
  auto find_person = g.db->prepare("SELECT id FROM people WHERE name = ?");
  auto add_image = g.db->prepare(
      "INSERT OR IGNORE INTO images(path, sha256, width, height) VALUES (?, ?, ?, ?)");
  auto find_image = g.db->prepare("SELECT id FROM images WHERE sha256 = ?");
  auto add_face = g.db->prepare(
      "INSERT INTO faces(person_id, image_id, box_x, box_y, box_w, box_h, landmarks, score, crop,"
      " face_index, stranger) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto add_vector = g.db->prepare("INSERT INTO embeddings(face_id, vector) VALUES (?, ?)");
  auto add_quality = g.db->prepare(
      "INSERT INTO face_quality(face_id, size, sharpness, yaw, pitch, roll, detector_score) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  std::vector<std::int64_t> ids;
  ids.reserve(faces.size());
  for (const Enrollment& e : faces) {
    add_face.reset();
    if (labels == Labels::named) {
      add_person.reset();
      add_person.bind(1, e.person).run();
      find_person.reset();
      find_person.bind(1, e.person).step();
      add_face.bind(1, find_person.int64(0));
    } else {
      add_face.bind_null(1);
    }
    add_image.reset();
    add_image.bind(1, e.image_path)
        .bind(2, e.image_sha256)
        .bind(3, e.image_width)
        .bind(4, e.image_height)
        .run();
    find_image.reset();
    find_image.bind(1, e.image_sha256).step();
    add_face.bind(2, find_image.int64(0))
        .bind(3, static_cast<double>(e.face.box.x))
        .bind(4, static_cast<double>(e.face.box.y))
        .bind(5, static_cast<double>(e.face.box.width))
        .bind(6, static_cast<double>(e.face.box.height))
        .bind(7, landmarks_json(e.face))
        .bind(8, static_cast<double>(e.face.score));
    if (e.crop_png.empty()) {
      add_face.bind_null(9);
    } else {
      add_face.bind_blob(9, e.crop_png.data(), e.crop_png.size());
    }
    add_face.bind(10, e.face_index).bind(11, labels == Labels::strangers ? 1 : 0);
    add_face.run();
    const std::int64_t face_id = g.db->last_insert_id();
    add_vector.reset();
    add_vector.bind(1, face_id).bind_blob(2, e.embedding.data(), dim * sizeof(float)).run();
    if (e.quality) {
      const FaceQuality& q = *e.quality;
      add_quality.reset();
      add_quality.bind(1, face_id)
          .bind(2, static_cast<double>(q.size))
          .bind(3, static_cast<double>(q.sharpness))
          .bind(4, static_cast<double>(q.yaw))
          .bind(5, static_cast<double>(q.pitch))
          .bind(6, static_cast<double>(q.roll))
          .bind(7, static_cast<double>(q.detector_score))
          .run();
    }
    ids.push_back(face_id);
  }
  return ids;
}

bool has_labels_schema(const Gallery::Impl& g) {
  return g.schema_version >= 2;
}

std::string face_select_sql(const Gallery::Impl& g, std::string_view where) {
  // An old gallery (read-only, schema 1) has none of the newer columns and tables.
  const bool v2 = has_labels_schema(g);
  std::string sql =
      "SELECT f.id, coalesce(p.name, ''), i.path, i.sha256, f.box_x, f.box_y, f.box_w, f.box_h, "
      "f.landmarks, f.score, f.crop IS NOT NULL, ";
  sql += v2 ? "f.face_index, f.stranger, coalesce(c.cluster_id, 0), coalesce(c.core, 0), "
              "q.face_id IS NOT NULL, q.size, q.sharpness, q.yaw, q.pitch, q.roll, "
              "q.detector_score "
            : "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 ";
  sql +=
      "FROM faces f LEFT JOIN people p ON p.id = f.person_id JOIN images i ON i.id = f.image_id ";
  if (v2) {
    sql +=
        "LEFT JOIN cluster_faces c ON c.face_id = f.id LEFT JOIN face_quality q ON q.face_id = "
        "f.id ";
  }
  sql += "WHERE ";
  sql += where;
  sql += " ORDER BY f.id";
  return sql;
}

Face face_from_columns(const Statement& stmt, int first) {
  Face face;
  face.box = cv::Rect2f(
      static_cast<float>(stmt.real(first)), static_cast<float>(stmt.real(first + 1)),
      static_cast<float>(stmt.real(first + 2)), static_cast<float>(stmt.real(first + 3)));
  parse_landmarks(stmt.text(first + 4), face);
  face.score = static_cast<float>(stmt.real(first + 5));
  return face;
}

FaceRecord face_from_row(const Statement& stmt) {
  FaceRecord r;
  r.id = stmt.int64(0);
  r.person = stmt.text(1);
  r.image_path = stmt.text(2);
  r.image_sha256 = stmt.text(3);
  r.face = face_from_columns(stmt, 4);
  r.has_crop = stmt.int64(10) != 0;
  r.face_index = static_cast<int>(stmt.int64(11));
  r.stranger = stmt.int64(12) != 0;
  r.cluster = stmt.int64(13);
  r.core = stmt.int64(14) != 0;
  if (stmt.int64(15) != 0) {
    FaceQuality q;
    q.size = static_cast<float>(stmt.real(16));
    q.sharpness = static_cast<float>(stmt.real(17));
    q.yaw = static_cast<float>(stmt.real(18));
    q.pitch = static_cast<float>(stmt.real(19));
    q.roll = static_cast<float>(stmt.real(20));
    q.detector_score = static_cast<float>(stmt.real(21));
    r.quality = q;
  }
  return r;
}

void follow_labels(Gallery::Impl& g, std::int64_t before, std::int64_t after,
                   const std::vector<std::int64_t>& added,
                   const std::vector<std::int64_t>& removed) {
  if (!g.index || g.index_generation != before ||
      g.index->needs_training(static_cast<std::int64_t>(added.size()))) {
    g.index_generation = -1;
    return;
  }
  if (!removed.empty() && !g.index->remove(removed)) {
    g.rebuild(true);  // as after removing a person: no index file keeps what left it
    return;
  }
  if (!added.empty()) {
    const auto dim = static_cast<std::size_t>(g.model.dim);
    std::vector<float> vectors;
    vectors.reserve(added.size() * dim);
    auto stmt = g.db->prepare("SELECT vector FROM embeddings WHERE face_id = ?");
    for (const std::int64_t id : added) {
      stmt.reset();
      stmt.bind(1, id);
      if (!stmt.step() || stmt.bytes(0) != dim * sizeof(float)) {
        g.index_generation = -1;
        return;
      }
      const auto* v = static_cast<const float*>(stmt.blob(0));
      vectors.insert(vectors.end(), v, v + dim);
    }
    g.index->add(static_cast<std::int64_t>(added.size()), added.data(), vectors.data());
  }
  g.index_generation = after;
  g.dirty = true;
  g.save_index();
}

}  // namespace clipface::gallery_detail
