// People managed one at a time, as a recognition service does (CompreFace's "subjects"): created
// before their first face, merged when renamed onto an existing name, all removed at once.
#include "clipface/errors.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface {
using gallery_detail::Transaction;

bool Gallery::add_person(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (name.empty()) throw InputError("cannot add a person without a name");
  Transaction txn(*g.db, Transaction::Kind::write);
  g.db->prepare("INSERT OR IGNORE INTO people(name) VALUES (?)").bind(1, name).run();
  const bool added = g.db->changes() > 0;
  txn.commit();
  if (added) ++g.local_changes;
  return added;
}

int Gallery::merge_person(const std::string& from, const std::string& into) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (from == into) throw InputError("cannot merge '" + from + "' into itself");
  Transaction txn(*g.db, Transaction::Kind::write);
  const std::int64_t from_id = g.require_person(from);
  const std::int64_t into_id = g.require_person(into);
  g.db->prepare("UPDATE faces SET person_id = ? WHERE person_id = ?")
      .bind(1, into_id)
      .bind(2, from_id)
      .run();
  const int moved = g.db->changes();
  g.db->prepare("DELETE FROM people WHERE id = ?").bind(1, from_id).run();
  // Face ids and vectors stay, so the index stays valid: no generation bump (as for a rename).
  txn.commit();
  ++g.local_changes;
  return moved;
}

int Gallery::remove_all_people() {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  std::vector<std::int64_t> face_ids;
  int removed = 0;
  std::int64_t before = 0;
  std::int64_t after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    auto faces = g.db->prepare("SELECT id FROM faces ORDER BY id");
    while (faces.step()) face_ids.push_back(faces.int64(0));
    auto count = g.db->prepare("SELECT count(*) FROM people");
    count.step();
    removed = static_cast<int>(count.int64(0));
    // Cascades to faces (with crops) and their embeddings.
    g.db->exec("DELETE FROM people");
    g.db->exec("DELETE FROM images");
    after = g.bump_generation();
    txn.commit();
  }
  g.scrub_removed(face_ids, before, after);
  return removed;
}

}  // namespace clipface
