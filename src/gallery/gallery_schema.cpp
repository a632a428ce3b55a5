#include <spdlog/spdlog.h>

#include "clipface/errors.hpp"
#include "gallery/schema.hpp"

namespace clipface::gallery_detail {
namespace {

// Version 1 -> 2. SQLite cannot drop NOT NULL from a column, so `faces` is rebuilt (copy,
// drop, rename; ids kept) and its AUTOINCREMENT counter restored, so a face id is still never
// reused after the upgrade.
constexpr const char* kFacesV2 = R"sql(
CREATE TABLE faces_v2(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,  -- NULL: no name yet
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  face_index INTEGER NOT NULL DEFAULT 0,  -- among the image's detections, best score first
  stranger INTEGER NOT NULL DEFAULT 0,    -- 1: a known stranger (never to be named)
  box_x REAL NOT NULL, box_y REAL NOT NULL, box_w REAL NOT NULL, box_h REAL NOT NULL,
  landmarks TEXT NOT NULL,
  score REAL NOT NULL,
  crop BLOB,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  CHECK (stranger = 0 OR person_id IS NULL));
INSERT INTO faces_v2(id, person_id, image_id, box_x, box_y, box_w, box_h, landmarks, score, crop,
                     created)
  SELECT id, person_id, image_id, box_x, box_y, box_w, box_h, landmarks, score, crop, created
  FROM faces;
DROP TABLE faces;
ALTER TABLE faces_v2 RENAME TO faces;
CREATE INDEX faces_by_person ON faces(person_id);
CREATE INDEX faces_by_image ON faces(image_id);
)sql";

constexpr const char* kTablesV2 = R"sql(
CREATE TABLE face_quality(
  face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  size REAL NOT NULL, sharpness REAL NOT NULL,
  yaw REAL NOT NULL, pitch REAL NOT NULL, roll REAL NOT NULL,
  detector_score REAL NOT NULL);
-- Candidate people made of unlabelled faces. AUTOINCREMENT: a cluster number users saw is never
-- given to another group later.
CREATE TABLE clusters(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE cluster_faces(
  face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  core INTEGER NOT NULL);
CREATE INDEX cluster_faces_by_cluster ON cluster_faces(cluster_id);
-- "Cluster C looks like person P": a proposal until someone names the cluster.
CREATE TABLE cluster_proposals(
  cluster_id INTEGER PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  score REAL NOT NULL);
-- "This face is not P", said by a person (or implied by moving a face out of P).
CREATE TABLE negatives(
  face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  PRIMARY KEY (face_id, person_id)) WITHOUT ROWID;
CREATE INDEX negatives_by_person ON negatives(person_id);
CREATE TABLE calibrations(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  model_name TEXT NOT NULL, model_checksum TEXT NOT NULL, crop_style TEXT NOT NULL,
  target_far REAL NOT NULL,
  k1 INTEGER NOT NULL, k2 INTEGER NOT NULL, threshold REAL NOT NULL,
  far REAL NOT NULL, far_upper REAL NOT NULL, frr REAL NOT NULL,
  genuine INTEGER NOT NULL, impostors INTEGER NOT NULL,
  generation INTEGER NOT NULL,  -- the gallery's generation it was measured on
  report TEXT NOT NULL);        -- JSON: probe sources, curve summary
CREATE TABLE person_thresholds(
  calibration_id INTEGER NOT NULL REFERENCES calibrations(id) ON DELETE CASCADE,
  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  threshold REAL NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (calibration_id, person_id)) WITHOUT ROWID;
-- The vectors of a re-embedding in progress (its model in meta 'reembed_*'), beside the live
-- ones in `embeddings` until the switch. vector NULL: the face could not be re-embedded.
CREATE TABLE reembed_vectors(
  face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  vector BLOB,
  source TEXT NOT NULL);
INSERT INTO meta(key, value) VALUES ('labels_generation', '0'), ('model_generation', '1');
)sql";

void upgrade_1_to_2(Database& db) {
  std::int64_t sequence = -1;
  {
    auto stmt = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'faces'");
    if (stmt.step()) sequence = stmt.int64(0);
  }
  db.exec(kFacesV2);
  if (sequence >= 0) {
    db.prepare("DELETE FROM sqlite_sequence WHERE name = 'faces'").run();
    db.prepare("INSERT INTO sqlite_sequence(name, seq) VALUES ('faces', ?)")
        .bind(1, sequence)
        .run();
  }
  db.exec(kTablesV2);
}

bool foreign_keys_on(const Database& db) {
  auto stmt = db.prepare("PRAGMA foreign_keys");
  return stmt.step() && stmt.int64(0) != 0;
}

}  // namespace

std::int64_t user_version(const Database& db) {
  auto stmt = db.prepare("PRAGMA user_version");
  stmt.step();
  return stmt.int64(0);
}

void run_migrations(Database& db, std::int64_t from) {
  if (foreign_keys_on(db)) {
    throw GalleryError("internal: gallery migration needs foreign keys off (" + db.label() + ")");
  }
  if (from < 2) upgrade_1_to_2(db);
  db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'")
      .bind(1, std::to_string(kSchemaVersion))
      .run();
  db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
}

void upgrade_schema(Database& db, const std::string& label) {
  Transaction txn(db, Transaction::Kind::write);
  const std::int64_t from = user_version(db);  // again: another process may have upgraded it
  if (from >= kSchemaVersion) return;
  run_migrations(db, from);
  {
    auto check = db.prepare("PRAGMA foreign_key_check");
    if (check.step()) {
      throw GalleryError("cannot upgrade gallery " + label + ": row " +
                         std::to_string(check.int64(1)) + " of " + check.text(0) +
                         " refers to a missing row of " + check.text(2) + "; nothing was changed");
    }
  }
  txn.commit();
  spdlog::info("gallery {}: upgraded from schema {} to {}", label, from, kSchemaVersion);
}

}  // namespace clipface::gallery_detail
