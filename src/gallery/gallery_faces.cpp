// Faces one at a time: pages of them (all or one person's), one by id, removal by id, and a
// person's stored embeddings (1:N verification against a subject).
#include <algorithm>
#include <cstring>

#include "clipface/errors.hpp"
#include "gallery/face_rows.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface {
using gallery_detail::face_from_row;
using gallery_detail::face_select_sql;
using gallery_detail::Transaction;

namespace {
// A service sees labelled faces only: unlabelled ones (clusters, strangers) wait for a name.
constexpr const char* kLabelled = "f.person_id IS NOT NULL";
}  // namespace

FacePage Gallery::list_faces(const std::string& person, std::int64_t offset,
                             std::int64_t limit) const {
  if (offset < 0 || limit < 0) throw InputError("a page needs a non-negative offset and size");
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  FacePage page;
  // One read transaction: the total and the rows describe the same state.
  Transaction read(*g.db, Transaction::Kind::read);
  const std::string where = std::string(kLabelled) + (person.empty() ? "" : " AND p.name = ?");
  if (!person.empty()) g.require_person(person);
  auto count = g.db->prepare(
      "SELECT count(*) FROM faces f LEFT JOIN people p ON p.id = f.person_id WHERE " + where);
  if (!person.empty()) count.bind(1, person);
  count.step();
  page.total = count.int64(0);
  auto stmt = g.db->prepare(face_select_sql(g, where) + " LIMIT ? OFFSET ?");
  const int first = person.empty() ? 1 : 2;
  if (!person.empty()) stmt.bind(1, person);
  stmt.bind(first, limit).bind(first + 1, offset);
  while (stmt.step()) page.faces.push_back(face_from_row(stmt));
  read.commit();
  return page;
}

std::optional<FaceRecord> Gallery::face(std::int64_t face_id) const {
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare(face_select_sql(*impl_, std::string(kLabelled) + " AND f.id = ?"));
  stmt.bind(1, face_id);
  if (!stmt.step()) return std::nullopt;
  return face_from_row(stmt);
}

std::vector<FaceRecord> Gallery::remove_labelled_faces(const std::vector<std::int64_t>& face_ids) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  std::vector<std::int64_t> wanted = face_ids;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::vector<FaceRecord> removed;
  std::int64_t before = 0;
  std::int64_t after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    auto find = g.db->prepare(face_select_sql(g, std::string(kLabelled) + " AND f.id = ?"));
    auto remove = g.db->prepare("DELETE FROM faces WHERE id = ?");  // cascades to the embedding
    for (const std::int64_t id : wanted) {
      find.reset();
      find.bind(1, id);
      if (!find.step()) continue;
      removed.push_back(face_from_row(find));
      remove.reset();
      remove.bind(1, id).run();
    }
    if (removed.empty()) return removed;  // nothing changed: the transaction rolls back
    g.db->exec("DELETE FROM images WHERE id NOT IN (SELECT image_id FROM faces)");
    after = g.bump_generation();
    g.bump_labels_generation();
    txn.commit();
  }
  std::vector<std::int64_t> ids;
  for (const auto& r : removed) ids.push_back(r.id);
  g.scrub_removed(ids, before, after);
  return removed;
}

Matrix Gallery::person_embeddings(const std::string& person) const {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  const auto dim = static_cast<std::size_t>(g.model.dim);
  Transaction read(*g.db, Transaction::Kind::read);
  const std::int64_t person_id = g.require_person(person);
  auto stmt = g.db->prepare(
      "SELECT e.vector FROM embeddings e JOIN faces f ON f.id = e.face_id WHERE f.person_id = ? "
      "ORDER BY f.id");
  stmt.bind(1, person_id);
  std::vector<float> values;
  while (stmt.step()) {
    if (stmt.bytes(0) != dim * sizeof(float)) {
      throw GalleryError("gallery database " + g.db_path.string() + ": an embedding of '" + person +
                         "' has the wrong size; run a check");
    }
    const auto* v = static_cast<const float*>(stmt.blob(0));
    values.insert(values.end(), v, v + dim);
  }
  read.commit();
  Matrix out(values.size() / dim, dim);
  std::copy(values.begin(), values.end(), out.data.begin());
  return out;
}

}  // namespace clipface
