// People managed one at a time, as a recognition service does (CompreFace's "subjects"): created
// before their first face and all removed at once (renaming onto an existing name is merge()).
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
    // Unlabelled faces (clusters, strangers) are nobody's yet: they stay.
    auto faces = g.db->prepare("SELECT id FROM faces WHERE person_id IS NOT NULL ORDER BY id");
    while (faces.step()) face_ids.push_back(faces.int64(0));
    auto count = g.db->prepare("SELECT count(*) FROM people");
    count.step();
    removed = static_cast<int>(count.int64(0));
    // Cascades to faces (with crops) and their embeddings.
    g.db->exec("DELETE FROM people");
    g.db->exec("DELETE FROM images WHERE id NOT IN (SELECT image_id FROM faces)");
    after = g.bump_generation();
    g.bump_labels_generation();
    txn.commit();
  }
  g.scrub_removed(face_ids, before, after);
  return removed;
}

}  // namespace clipface
