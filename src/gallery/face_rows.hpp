// Reading and writing face rows (internal), shared by enrollment, unlabelled faces, clusters and
// re-embedding: one insertion path, one validation, one reader of FaceRecord.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "clipface/gallery.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface::gallery_detail {

inline constexpr float kUnitTolerance = 1e-3f;  // |norm - 1| allowed for stored and new vectors

std::string landmarks_json(const Face& face);
void parse_landmarks(const std::string& text, Face& face);
float vector_norm(const float* v, std::size_t n);
// "dlib-resnet-v1 (55533b28a958, dlib-chip, 128-d)"
std::string describe_model(const EmbedderInfo& model);

// Throws InputError (dimension, unit length, finite) for a vector of the gallery's model.
void check_vector(const Gallery::Impl& g, const std::vector<float>& v, const std::string& which);

enum class Labels { named, unlabelled, strangers };

// InputError for a bad vector, a missing sha256, or a person name that does not fit `labels`
// (named: non-empty; otherwise empty).
void validate_enrollments(const Gallery::Impl& g, const std::vector<Enrollment>& faces,
                          Labels labels);
// Inside the caller's write transaction: images shared by sha256, people created on first use,
// faces, their quality records and embeddings. Returns the new face ids in order.
std::vector<std::int64_t> insert_faces(Gallery::Impl& g, const std::vector<Enrollment>& faces,
                                       Labels labels);

// Face records with quality and cluster, for faces matching `where` (an SQL condition on
// f = faces, p = people, c = cluster_faces), ordered by face id. `bind` binds its parameters.
template <class Bind>
std::vector<FaceRecord> read_faces(const Gallery::Impl& g, std::string_view where, Bind bind);

std::string face_select_sql(const Gallery::Impl& g, std::string_view where);
FaceRecord face_from_row(const Statement& stmt);
// Columns first.. first+5: box_x, box_y, box_w, box_h, landmarks, score.
Face face_from_columns(const Statement& stmt, int first);

template <class Bind>
std::vector<FaceRecord> read_faces(const Gallery::Impl& g, std::string_view where, Bind bind) {
  auto stmt = g.db->prepare(face_select_sql(g, where));
  bind(stmt);
  std::vector<FaceRecord> out;
  while (stmt.step()) out.push_back(face_from_row(stmt));
  return out;
}

// After a committed change of which faces are labelled (the index serves those): when the
// in-memory index reflects exactly generation `before`, removes `removed` (in place, else by a
// rebuild) and adds `added`, and saves it; otherwise the next use rebuilds it.
void follow_labels(Gallery::Impl& g, std::int64_t before, std::int64_t after,
                   const std::vector<std::int64_t>& added,
                   const std::vector<std::int64_t>& removed);

// False for an old gallery opened read-only (schema 1: every face has a person, nothing else).
bool has_labels_schema(const Gallery::Impl& g);

}  // namespace clipface::gallery_detail
