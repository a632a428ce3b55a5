// Faces without names, clusters of them, and what people say about faces: naming a cluster,
// merging, splitting, "this face is not X". Labels given by people are authoritative; clustering
// only ever touches unlabelled faces (clipface/cluster.hpp decides, apply_clustering stores).
#include <algorithm>
#include <map>
#include <set>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/face_rows.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface {
using gallery_detail::Labels;
using gallery_detail::Statement;
using gallery_detail::Transaction;

namespace {

void require_labels(const Gallery::Impl& g) {
  if (!gallery_detail::has_labels_schema(g)) {
    throw GalleryError("gallery " + g.dir.string() +
                       " has schema 1 (no unlabelled faces or clusters); open it for writing "
                       "once to upgrade it");
  }
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// How a command line names the group: 'Ada' or '#12'.
std::string group_arg(const FaceGroup& group) {
  return quoted(group.is_cluster() ? "#" + std::to_string(group.cluster) : group.person);
}

std::int64_t person_id(const Gallery::Impl& g, const std::string& name) {
  auto stmt = g.db->prepare("SELECT id FROM people WHERE name = ?");
  stmt.bind(1, name);
  if (!stmt.step())
    throw InputError("no person named " + quoted(name) + " in gallery " + g.dir.string());
  return stmt.int64(0);
}

std::int64_t person_id_or_new(Gallery::Impl& g, const std::string& name) {
  if (name.empty()) throw InputError("a person's name must not be empty");
  g.db->prepare("INSERT OR IGNORE INTO people(name) VALUES (?)").bind(1, name).run();
  return person_id(g, name);
}

void require_cluster(const Gallery::Impl& g, std::int64_t cluster) {
  auto stmt = g.db->prepare("SELECT 1 FROM clusters WHERE id = ?");
  stmt.bind(1, cluster);
  if (stmt.step()) return;
  auto range = g.db->prepare("SELECT count(*), min(id), max(id) FROM clusters");
  range.step();
  const std::string have = range.int64(0) == 0
                               ? "it has no clusters yet"
                               : "it has " + std::to_string(range.int64(0)) + " clusters, #" +
                                     std::to_string(range.int64(1)) + " to #" +
                                     std::to_string(range.int64(2));
  throw InputError("no cluster #" + std::to_string(cluster) + " in gallery " + g.dir.string() +
                   " (" + have + "; `clipface cluster " + g.dir.string() + "` lists them)");
}

std::vector<std::int64_t> ids_of(const Gallery::Impl& g, const char* sql, std::int64_t key) {
  auto stmt = g.db->prepare(sql);
  stmt.bind(1, key);
  std::vector<std::int64_t> ids;
  while (stmt.step()) ids.push_back(stmt.int64(0));
  return ids;
}

std::vector<std::int64_t> faces_of_group(const Gallery::Impl& g, const FaceGroup& group) {
  if (group.is_cluster()) {
    require_cluster(g, group.cluster);
    return ids_of(g, "SELECT face_id FROM cluster_faces WHERE cluster_id = ? ORDER BY face_id",
                  group.cluster);
  }
  return ids_of(g, "SELECT id FROM faces WHERE person_id = ? ORDER BY id",
                person_id(g, group.person));
}

// Gives faces to a person inside the caller's transaction: out of any cluster, labelled. InputError
// for a face recorded as not being that person (the fix is named in the message).
void label_faces(Gallery::Impl& g, const std::vector<std::int64_t>& faces, std::int64_t person,
                 const std::string& person_name, const FaceGroup& from) {
  auto negative = g.db->prepare("SELECT 1 FROM negatives WHERE face_id = ? AND person_id = ?");
  auto set = g.db->prepare("UPDATE faces SET person_id = ? WHERE id = ?");
  auto leave = g.db->prepare("DELETE FROM cluster_faces WHERE face_id = ?");
  for (const std::int64_t face : faces) {
    negative.reset();
    negative.bind(1, face).bind(2, person);
    if (negative.step()) {
      throw InputError("face " + std::to_string(face) + " of " + from.describe() +
                       " was marked as not being " + quoted(person_name) +
                       "; move it out first (clipface people " + g.dir.string() + " split " +
                       group_arg(from) + " " + std::to_string(face) + "); nothing was changed");
    }
    set.reset();
    set.bind(1, person).bind(2, face).run();
    leave.reset();
    leave.bind(1, face).run();
  }
}

void drop_empty_clusters(Gallery::Impl& g) {
  g.db->exec("DELETE FROM clusters WHERE id NOT IN (SELECT cluster_id FROM cluster_faces)");
}

}  // namespace

std::string FaceGroup::describe() const {
  return is_cluster() ? "cluster #" + std::to_string(cluster) : "person " + quoted(person);
}

FaceGroup FaceGroup::parse(const std::string& text) {
  FaceGroup group;
  std::string number;
  if (!text.empty() && text[0] == '#') {
    number = text.substr(1);
  } else if (text.rfind("cluster:", 0) == 0) {
    number = text.substr(8);
  } else {
    if (text.empty()) throw InputError("an empty name is neither a person nor a cluster");
    group.person = text;
    return group;
  }
  const bool digits =
      !number.empty() && number.size() < 18 &&
      std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoll(number) <= 0) {
    throw InputError("'" + text + "' is not a cluster: write a cluster as #N or cluster:N");
  }
  group.cluster = std::stoll(number);
  return group;
}

std::vector<std::int64_t> Gallery::add_unlabelled(const EmbedderInfo& model,
                                                  const std::vector<Enrollment>& faces,
                                                  bool strangers) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  require_model(model);
  const Labels labels = strangers ? Labels::strangers : Labels::unlabelled;
  gallery_detail::validate_enrollments(g, faces, labels);
  if (faces.empty()) return {};
  Transaction txn(*g.db, Transaction::Kind::write);
  auto ids = gallery_detail::insert_faces(g, faces, labels);
  // The index serves labelled faces only, so its generation stays.
  g.bump_labels_generation();
  txn.commit();
  return ids;
}

FaceVectors Gallery::face_vectors(FaceSet which) const {
  std::lock_guard lock(impl_->mutex);
  const Impl& g = *impl_;
  const bool v2 = gallery_detail::has_labels_schema(g);
  FaceVectors out;
  Transaction read(*g.db, Transaction::Kind::read);
  if (v2) {
    auto gen =
        g.db->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'labels_generation'");
    if (gen.step()) out.labels_generation = gen.int64(0);
  }
  std::string sql = "SELECT f.id, coalesce(p.name, ''), i.sha256, e.vector, ";
  sql += v2 ? "coalesce(c.cluster_id, 0), coalesce(c.core, 0), f.stranger " : "0, 0, 0 ";
  sql +=
      "FROM faces f JOIN embeddings e ON e.face_id = f.id JOIN images i ON i.id = f.image_id "
      "LEFT JOIN people p ON p.id = f.person_id ";
  if (v2) sql += "LEFT JOIN cluster_faces c ON c.face_id = f.id ";
  if (which == FaceSet::labelled) sql += "WHERE f.person_id IS NOT NULL ";
  if (which == FaceSet::unlabelled) sql += "WHERE f.person_id IS NULL ";
  sql += "ORDER BY f.id";
  auto stmt = g.db->prepare(sql);
  const auto dim = static_cast<std::size_t>(g.model.dim);
  std::vector<float> data;
  while (stmt.step()) {
    if (stmt.bytes(3) != dim * sizeof(float)) {
      throw GalleryError("gallery database " + g.db_path.string() + ": embedding of face " +
                         std::to_string(stmt.int64(0)) + " has the wrong size; run a check");
    }
    FaceVectors::Row row;
    row.face_id = stmt.int64(0);
    row.person = stmt.text(1);
    row.image_sha256 = stmt.text(2);
    row.cluster = stmt.int64(4);
    row.core = stmt.int64(5) != 0;
    row.stranger = stmt.int64(6) != 0;
    out.faces.push_back(std::move(row));
    const auto* v = static_cast<const float*>(stmt.blob(3));
    data.insert(data.end(), v, v + dim);
  }
  read.commit();
  out.vectors.rows = out.faces.size();
  out.vectors.cols = dim;
  out.vectors.data = std::move(data);
  return out;
}

std::vector<FaceRecord> Gallery::face_records(FaceSet which) const {
  std::lock_guard lock(impl_->mutex);
  const char* where = which == FaceSet::labelled     ? "f.person_id IS NOT NULL"
                      : which == FaceSet::unlabelled ? "f.person_id IS NULL"
                                                     : "1";
  return gallery_detail::read_faces(*impl_, where, [](Statement&) {});
}

std::size_t Gallery::labelled_size() const {
  std::lock_guard lock(impl_->mutex);
  return static_cast<std::size_t>(impl_->count_indexed());
}

std::vector<ClusterSummary> Gallery::clusters() const {
  std::lock_guard lock(impl_->mutex);
  const Impl& g = *impl_;
  std::vector<ClusterSummary> out;
  if (!gallery_detail::has_labels_schema(g)) return out;
  auto stmt = g.db->prepare(
      "SELECT c.id, c.created, count(m.face_id), coalesce(sum(m.core), 0), "
      "coalesce(p.name, ''), coalesce(cp.score, 0) FROM clusters c "
      "LEFT JOIN cluster_faces m ON m.cluster_id = c.id "
      "LEFT JOIN cluster_proposals cp ON cp.cluster_id = c.id "
      "LEFT JOIN people p ON p.id = cp.person_id GROUP BY c.id ORDER BY c.id");
  while (stmt.step()) {
    ClusterSummary c;
    c.id = stmt.int64(0);
    c.created = stmt.text(1);
    c.faces = static_cast<int>(stmt.int64(2));
    c.core_faces = static_cast<int>(stmt.int64(3));
    c.proposed = stmt.text(4);
    c.proposed_score = static_cast<float>(stmt.real(5));
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<FaceRecord> Gallery::cluster_faces(std::int64_t cluster) const {
  std::lock_guard lock(impl_->mutex);
  require_labels(*impl_);
  require_cluster(*impl_, cluster);
  return gallery_detail::read_faces(*impl_, "c.cluster_id = ?",
                                    [&](Statement& stmt) { stmt.bind(1, cluster); });
}

std::map<std::int64_t, std::int64_t> Gallery::apply_clustering(const ClusteringUpdate& update) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  Transaction txn(*g.db, Transaction::Kind::write);
  {
    auto gen =
        g.db->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'labels_generation'");
    gen.step();
    if (gen.int64(0) != update.labels_generation) {
      throw GalleryError("gallery " + g.dir.string() +
                         " changed while clustering (faces were added, named or moved); run "
                         "clipface cluster again");
    }
  }
  std::map<std::int64_t, std::int64_t> created;
  const auto cluster_id = [&](std::int64_t id) {
    if (id > 0) {
      require_cluster(g, id);
      return id;
    }
    auto [it, fresh] = created.try_emplace(id, 0);
    if (fresh) {
      g.db->exec("INSERT INTO clusters DEFAULT VALUES");
      it->second = g.db->last_insert_id();
    }
    return it->second;
  };
  if (update.replace_all) g.db->exec("DELETE FROM cluster_faces");
  auto face = g.db->prepare("SELECT person_id IS NOT NULL, stranger FROM faces WHERE id = ?");
  auto put = g.db->prepare(
      "INSERT OR REPLACE INTO cluster_faces(face_id, cluster_id, core) VALUES (?, ?, ?)");
  for (const ClusterMember& m : update.members) {
    face.reset();
    face.bind(1, m.face_id);
    if (!face.step()) throw InputError("clustering: no face " + std::to_string(m.face_id));
    if (face.int64(0) != 0 || face.int64(1) != 0) {
      throw InputError("clustering: face " + std::to_string(m.face_id) +
                       " is labelled or a known stranger; clusters hold unlabelled faces only");
    }
    put.reset();
    put.bind(1, m.face_id).bind(2, cluster_id(m.cluster)).bind(3, m.core ? 1 : 0).run();
  }
  g.db->exec("DELETE FROM cluster_proposals");
  auto propose = g.db->prepare(
      "INSERT OR REPLACE INTO cluster_proposals(cluster_id, person_id, score) VALUES (?, ?, ?)");
  for (const ClusterProposal& p : update.proposals) {
    propose.reset();
    propose.bind(1, cluster_id(p.cluster))
        .bind(2, person_id(g, p.person))
        .bind(3, static_cast<double>(p.score))
        .run();
  }
  drop_empty_clusters(g);
  g.bump_labels_generation();
  txn.commit();
  return created;
}

int Gallery::name_cluster(std::int64_t cluster, const std::string& person) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (person.empty())
    throw InputError("cannot name cluster #" + std::to_string(cluster) + ": empty name");
  std::vector<std::int64_t> faces;
  std::int64_t before = 0, after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    faces = faces_of_group(g, FaceGroup{"", cluster});
    const std::int64_t pid = person_id_or_new(g, person);
    label_faces(g, faces, pid, person, FaceGroup{"", cluster});
    g.db->prepare("DELETE FROM clusters WHERE id = ?").bind(1, cluster).run();
    after = g.bump_generation();
    g.bump_labels_generation();
    txn.commit();
  }
  gallery_detail::follow_labels(g, before, after, faces, {});
  return static_cast<int>(faces.size());
}

int Gallery::merge(const FaceGroup& from, const FaceGroup& into) {
  if (from.is_cluster() && !into.is_cluster()) {
    {
      std::lock_guard lock(impl_->mutex);
      person_id(*impl_, into.person);  // merge needs both to exist; naming may create
    }
    return name_cluster(from.cluster, into.person);
  }
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (from.is_cluster() == into.is_cluster() && from.cluster == into.cluster &&
      from.person == into.person) {
    throw InputError("cannot merge " + from.describe() + " into itself");
  }
  if (!from.is_cluster() && into.is_cluster()) {
    throw InputError("cannot merge " + from.describe() + " into " + into.describe() +
                     ": a person's faces are labelled and stay labelled; to give the cluster's "
                     "faces to " +
                     quoted(from.person) + " run: clipface people " + g.dir.string() + " merge " +
                     group_arg(into) + " " + group_arg(from));
  }
  Transaction txn(*g.db, Transaction::Kind::write);
  const auto faces = faces_of_group(g, from);
  faces_of_group(g, into);  // exists?
  if (from.is_cluster()) {
    g.db->prepare("UPDATE cluster_faces SET cluster_id = ? WHERE cluster_id = ?")
        .bind(1, into.cluster)
        .bind(2, from.cluster)
        .run();
    g.db->prepare("DELETE FROM clusters WHERE id = ?").bind(1, from.cluster).run();
  } else {
    const std::int64_t a = person_id(g, from.person), b = person_id(g, into.person);
    g.db->prepare("UPDATE faces SET person_id = ? WHERE person_id = ?").bind(1, b).bind(2, a).run();
    // "Not A" becomes "not B"; what now contradicts the merge (a face of B said not to be A, or
    // of A not to be B) is dropped: the latest word is the merge.
    g.db->prepare("UPDATE OR IGNORE negatives SET person_id = ? WHERE person_id = ?")
        .bind(1, b)
        .bind(2, a)
        .run();
    g.db->prepare("DELETE FROM negatives WHERE person_id = ?").bind(1, a).run();
    g.db->prepare(
            "DELETE FROM negatives WHERE person_id = ? AND face_id IN "
            "(SELECT id FROM faces WHERE person_id = ?)")
        .bind(1, b)
        .bind(2, b)
        .run();
    // Face ids stay in the index and names come from SQLite: no new generation needed.
    g.db->prepare("DELETE FROM people WHERE id = ?").bind(1, a).run();
  }
  g.bump_labels_generation();
  txn.commit();
  return static_cast<int>(faces.size());
}

std::int64_t Gallery::split(const FaceGroup& from, const std::vector<std::int64_t>& faces,
                            const std::string& to_person) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (faces.empty()) throw InputError("split needs the ids of the faces to move");
  std::vector<std::int64_t> removed, added;  // index changes
  std::int64_t new_cluster = 0;
  std::int64_t before = 0, after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    const auto members = faces_of_group(g, from);
    const std::set<std::int64_t> in_group(members.begin(), members.end());
    const std::set<std::int64_t> chosen(faces.begin(), faces.end());
    for (const std::int64_t face : chosen) {
      if (!in_group.count(face)) {
        throw InputError("face " + std::to_string(face) + " is not in " + from.describe() +
                         " (its faces: `clipface people " + g.dir.string() + " faces " +
                         group_arg(from) + "`)");
      }
    }
    const std::vector<std::int64_t> moving(chosen.begin(), chosen.end());
    if (!from.is_cluster() && chosen.size() == in_group.size()) {
      throw InputError("those are all the faces of " + quoted(from.person) +
                       "; rename the person (clipface people " + g.dir.string() +
                       " rename ...) or remove them instead");
    }
    if (!from.is_cluster()) {
      // Leaving a person: remembered as "not them", so clustering and proposals keep them apart.
      const std::int64_t old_person = person_id(g, from.person);
      auto negative =
          g.db->prepare("INSERT OR IGNORE INTO negatives(face_id, person_id) VALUES (?, ?)");
      for (const std::int64_t face : moving) {
        negative.reset();
        negative.bind(1, face).bind(2, old_person).run();
      }
    }
    if (!to_person.empty()) {
      if (!from.is_cluster() && to_person == from.person) {
        throw InputError("those faces are already " + quoted(to_person) + "'s");
      }
      const std::int64_t pid = person_id_or_new(g, to_person);
      label_faces(g, moving, pid, to_person, from);
      if (from.is_cluster()) added = moving;
    } else {
      g.db->exec("INSERT INTO clusters DEFAULT VALUES");
      new_cluster = g.db->last_insert_id();
      auto unlabel = g.db->prepare("UPDATE faces SET person_id = NULL WHERE id = ?");
      // Chosen by a person as one group: every face counts as core, so new faces can join it.
      auto join = g.db->prepare(
          "INSERT OR REPLACE INTO cluster_faces(face_id, cluster_id, core) VALUES (?, ?, 1)");
      for (const std::int64_t face : moving) {
        unlabel.reset();
        unlabel.bind(1, face).run();
        join.reset();
        join.bind(1, face).bind(2, new_cluster).run();
      }
      if (!from.is_cluster()) removed = moving;
    }
    drop_empty_clusters(g);
    after = removed.empty() && added.empty() ? before : g.bump_generation();
    g.bump_labels_generation();
    txn.commit();
  }
  if (after != before) gallery_detail::follow_labels(g, before, after, added, removed);
  return new_cluster;
}

int Gallery::remove_faces(const std::vector<std::int64_t>& faces) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (faces.empty()) throw InputError("give the ids of the faces to remove");
  const std::set<std::int64_t> chosen(faces.begin(), faces.end());
  std::vector<std::int64_t> labelled;
  std::int64_t before = 0, after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    auto face = g.db->prepare(
        "SELECT f.person_id, p.name FROM faces f LEFT JOIN people p ON p.id = f.person_id "
        "WHERE f.id = ?");
    std::map<std::int64_t, std::pair<std::string, int>> leaving;  // person -> (name, faces)
    for (const std::int64_t id : chosen) {
      face.reset();
      face.bind(1, id);
      if (!face.step()) {
        throw InputError("no face " + std::to_string(id) + " in gallery " + g.dir.string());
      }
      if (!face.is_null(0)) {
        labelled.push_back(id);
        auto& [name, n] = leaving[face.int64(0)];
        name = face.text(1);
        ++n;
      }
    }
    for (const auto& [pid, who] : leaving) {
      const auto all = ids_of(g, "SELECT id FROM faces WHERE person_id = ?", pid);
      if (static_cast<int>(all.size()) == who.second) {
        throw InputError("those are all the faces of " + quoted(who.first) +
                         "; remove the person instead (clipface people " + g.dir.string() +
                         " remove " + quoted(who.first) + ")");
      }
    }
    auto remove = g.db->prepare("DELETE FROM faces WHERE id = ?");
    for (const std::int64_t id : chosen) {
      remove.reset();
      remove.bind(1, id).run();
    }
    g.db->exec("DELETE FROM images WHERE id NOT IN (SELECT image_id FROM faces)");
    drop_empty_clusters(g);
    after = labelled.empty() ? before : g.bump_generation();
    g.bump_labels_generation();
    txn.commit();
  }
  // As after removing a person: nothing of the removed faces stays in free pages or the WAL.
  g.db->exec("VACUUM");
  g.db->prepare("PRAGMA wal_checkpoint(TRUNCATE)").run();
  if (after != before) gallery_detail::follow_labels(g, before, after, {}, labelled);
  return static_cast<int>(chosen.size());
}

void Gallery::add_negative(std::int64_t face_id, const std::string& person) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  Transaction txn(*g.db, Transaction::Kind::write);
  const std::int64_t pid = person_id(g, person);
  auto face = g.db->prepare("SELECT person_id FROM faces WHERE id = ?");
  face.bind(1, face_id);
  if (!face.step()) {
    throw InputError("no face " + std::to_string(face_id) + " in gallery " + g.dir.string());
  }
  if (!face.is_null(0) && face.int64(0) == pid) {
    throw InputError("face " + std::to_string(face_id) + " is labelled " + quoted(person) +
                     "; to say it is someone else, move it out: clipface people " + g.dir.string() +
                     " split " + quoted(person) + " " + std::to_string(face_id));
  }
  g.db->prepare("INSERT OR IGNORE INTO negatives(face_id, person_id) VALUES (?, ?)")
      .bind(1, face_id)
      .bind(2, pid)
      .run();
  // A proposal that this face's cluster is them no longer stands.
  g.db->prepare(
          "DELETE FROM cluster_proposals WHERE person_id = ? AND cluster_id IN "
          "(SELECT cluster_id FROM cluster_faces WHERE face_id = ?)")
      .bind(1, pid)
      .bind(2, face_id)
      .run();
  g.bump_labels_generation();
  txn.commit();
}

std::vector<Negative> Gallery::negatives() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<Negative> out;
  if (!gallery_detail::has_labels_schema(*impl_)) return out;
  auto stmt = impl_->db->prepare(
      "SELECT n.face_id, p.name, n.created FROM negatives n JOIN people p ON p.id = n.person_id "
      "ORDER BY n.face_id, p.name");
  while (stmt.step()) out.push_back({stmt.int64(0), stmt.text(1), stmt.text(2)});
  return out;
}

}  // namespace clipface
