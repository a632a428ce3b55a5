// Schema 2 upgrade: a gallery written by the version-1 code (its exact SQL, below) opens
// read-only as it is, and opened for writing is upgraded in one transaction that keeps every
// person, face, vector and id; an upgrade that cannot complete leaves the file byte for byte.
#include <sqlite3.h>

#include <cstring>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/synthetic.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::as_matrix;
using testing::photo_of;
using testing::random_unit;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 16;

// gallery.cpp's schema and meta as version 1 wrote them (commit 2e27d37).
constexpr const char* kSchemaV1 = R"sql(
PRAGMA journal_mode = DELETE;
BEGIN;
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE people(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE images(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL);
CREATE TABLE faces(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  box_x REAL NOT NULL, box_y REAL NOT NULL, box_w REAL NOT NULL, box_h REAL NOT NULL,
  landmarks TEXT NOT NULL,
  score REAL NOT NULL,
  crop BLOB,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE INDEX faces_by_person ON faces(person_id);
CREATE INDEX faces_by_image ON faces(image_id);
CREATE TABLE embeddings(
  face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  vector BLOB NOT NULL);
INSERT INTO meta(key, value) VALUES ('format', 'clipface-gallery'), ('schema', '1'),
  ('gallery_id', 'v1gallery'), ('model_name', 'synthetic'), ('model_checksum', '0123456789abcdef'),
  ('crop_style', 'tight'), ('dim', '16'), ('input_size', '112'), ('random_weights', '0'),
  ('index_factory', 'Flat'), ('search_params', ''), ('generation', '3');
PRAGMA user_version = 1;
COMMIT;
PRAGMA journal_mode = WAL;
)sql";

struct V1Face {
  std::int64_t id;
  std::string person;
  std::vector<float> vector;
};

class Sqlite {
 public:
  explicit Sqlite(const fs::path& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~Sqlite() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "") << "\n" << sql;
    sqlite3_free(error);
  }
  void put_vector(std::int64_t face, const std::vector<float>& v) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO embeddings(face_id, vector) VALUES (?, ?)", -1, &stmt,
                       nullptr);
    sqlite3_bind_int64(stmt, 1, face);
    sqlite3_bind_blob(stmt, 2, v.data(), static_cast<int>(v.size() * sizeof(float)), nullptr);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
  }
  std::int64_t number(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    const std::int64_t v = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
};

// A version-1 gallery with ann (faces 1-3) and bob (faces 4-5), then face 6 of bob enrolled and
// removed again, so AUTOINCREMENT's counter (6) is above the largest id left.
std::vector<V1Face> make_v1_gallery(const fs::path& dir, bool dangling = false) {
  fs::create_directories(dir);
  std::vector<V1Face> faces;
  Sqlite db(dir / kGalleryDbName);
  db.exec(kSchemaV1);
  db.exec("INSERT INTO people(name) VALUES ('ann'), ('bob')");
  std::mt19937 rng(5);
  const auto ann = random_unit(rng, kDim), bob = random_unit(rng, kDim);
  for (int i = 1; i <= 6; ++i) {
    const std::string person = i <= 3 ? "ann" : "bob";
    db.exec("INSERT INTO images(path, sha256, width, height) VALUES ('/p/" + std::to_string(i) +
            ".jpg', 'sha" + std::to_string(i) + "', 640, 480)");
    db.exec(
        "INSERT INTO faces(person_id, image_id, box_x, box_y, box_w, box_h, landmarks, "
        "score, crop) VALUES (" +
        std::string(i <= 3 ? "1" : "2") + ", " + std::to_string(i) +
        ", 10, 20, 100, 120, '[[1,2],[3,4],[5,6],[7,8],[9,10]]', 0.9, x'89504e47')");
    const auto v = photo_of(person == "ann" ? ann : bob, rng);
    db.put_vector(i, v);
    faces.push_back({i, person, v});
  }
  db.exec(
      "DELETE FROM embeddings WHERE face_id = 6; DELETE FROM faces WHERE id = 6; "
      "DELETE FROM images WHERE id = 6");
  faces.pop_back();
  if (dangling) {
    // Damage the upgrade must not paper over: a face of a person who does not exist.
    db.exec(
        "INSERT INTO images(path, sha256, width, height) VALUES ('/p/x.jpg', 'shax', 1, 1);"
        "INSERT INTO faces(person_id, image_id, box_x, box_y, box_w, box_h, landmarks, score)"
        " VALUES (99, 7, 0, 0, 1, 1, '[]', 0.5)");
  }
  return faces;
}

std::string bytes(const fs::path& path) {
  return testing::read_text(path);
}

TEST(GallerySchema, Version1OpensReadOnlyAsItIs) {
  TempDir tmp;
  const auto dir = tmp / "v1";
  const auto faces = make_v1_gallery(dir);
  const std::string before = bytes(dir / kGalleryDbName);
  {
    const Gallery g = Gallery::open(dir, GalleryMode::read);
    ASSERT_EQ(g.people().size(), 2u);
    EXPECT_EQ(g.size(), 5u);
    EXPECT_EQ(g.labelled_size(), 5u);
    const auto hits = g.search(as_matrix({faces[3].vector}), 1);
    ASSERT_EQ(hits[0].size(), 1u);
    EXPECT_EQ(hits[0][0].person, "bob");
    EXPECT_EQ(hits[0][0].face_id, 4);
    // What schema 1 cannot hold reads as empty; the default vote applies.
    EXPECT_TRUE(g.clusters().empty());
    EXPECT_TRUE(g.negatives().empty());
    EXPECT_FALSE(g.calibration().has_value());
    EXPECT_EQ(g.vote_rule().threshold, default_vote(g.model()).threshold);
    EXPECT_EQ(g.face_vectors(FaceSet::unlabelled).faces.size(), 0u);
    EXPECT_EQ(g.faces("ann").size(), 3u);
  }
  EXPECT_EQ(bytes(dir / kGalleryDbName), before) << "a read-only open changed gallery.db";
  Sqlite db(dir / kGalleryDbName);
  EXPECT_EQ(db.number("PRAGMA user_version"), 1);
}

TEST(GallerySchema, Version1IsUpgradedWhenOpenedForWritingKeepingEverything) {
  TempDir tmp;
  const auto dir = tmp / "v1";
  const auto faces = make_v1_gallery(dir);
  {
    Gallery g = Gallery::open(dir, GalleryMode::write);
    EXPECT_TRUE(g.check_integrity().ok);
    const auto labelled = g.face_vectors(FaceSet::labelled);
    ASSERT_EQ(labelled.faces.size(), faces.size());
    for (std::size_t i = 0; i < faces.size(); ++i) {
      EXPECT_EQ(labelled.faces[i].face_id, faces[i].id);
      EXPECT_EQ(labelled.faces[i].person, faces[i].person);
      EXPECT_EQ(
          std::memcmp(labelled.vectors.row(i).data(), faces[i].vector.data(), kDim * sizeof(float)),
          0);
    }
    const auto ann = g.faces("ann");
    ASSERT_EQ(ann.size(), 3u);
    EXPECT_TRUE(ann[0].has_crop);
    EXPECT_EQ(ann[0].face.landmarks[4].y, 10);
    EXPECT_EQ(g.search(as_matrix({faces[0].vector}), 1)[0][0].person, "ann");
    // The new features work, and a face id is never reused: face 6 was removed before.
    std::mt19937 rng(9);
    const auto unlabelled =
        g.add_unlabelled(g.model(), {testing::enrollment("", random_unit(rng, kDim), "new")});
    ASSERT_EQ(unlabelled.size(), 1u);
    EXPECT_EQ(unlabelled[0], 7);
    EXPECT_EQ(g.size(), 6u);
    EXPECT_EQ(g.labelled_size(), 5u);
  }
  Sqlite db(dir / kGalleryDbName);
  EXPECT_EQ(db.number("PRAGMA user_version"), 2);
  EXPECT_EQ(db.number("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema'"), 2);
  // Reopened by the new code: nothing to do again.
  Gallery again = Gallery::open(dir, GalleryMode::write);
  EXPECT_EQ(again.size(), 6u);
  EXPECT_TRUE(again.check_integrity().ok);
}

TEST(GallerySchema, UpgradeThatCannotCompleteChangesNothing) {
  TempDir tmp;
  const auto dir = tmp / "v1";
  make_v1_gallery(dir, /*dangling=*/true);
  const std::string before = bytes(dir / kGalleryDbName);
  try {
    Gallery::open(dir, GalleryMode::write);
    FAIL() << "the upgrade should refuse a face of a missing person";
  } catch (const GalleryError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot upgrade"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nothing was changed"), std::string::npos) << e.what();
  }
  EXPECT_EQ(bytes(dir / kGalleryDbName), before);
  Sqlite db(dir / kGalleryDbName);
  EXPECT_EQ(db.number("PRAGMA user_version"), 1);
  EXPECT_EQ(db.number("SELECT count(*) FROM embeddings"), 5);
}

TEST(GallerySchema, NewGalleryHasTheUpgradedSchema) {
  TempDir tmp;
  const auto made = tmp / "new";
  const auto upgraded = tmp / "v1";
  { Gallery::create(made, synthetic_model(kDim)); }
  make_v1_gallery(upgraded);
  { Gallery::open(upgraded, GalleryMode::write); }
  // Same tables, columns and indexes, whichever way the gallery came to schema 2.
  const auto schema = [](const fs::path& dir) {
    sqlite3* db = nullptr;
    sqlite3_open((dir / kGalleryDbName).c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE "
                       "'sqlite_%' ORDER BY type, name",
                       -1, &stmt, nullptr);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int c = 0; c < 3; ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        out += text ? reinterpret_cast<const char*>(text) : "";
        out += "|";
      }
      out += "\n";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  };
  EXPECT_EQ(schema(made), schema(upgraded));
  EXPECT_NE(schema(made).find("reembed_vectors"), std::string::npos);
}

}  // namespace
}  // namespace clipface
