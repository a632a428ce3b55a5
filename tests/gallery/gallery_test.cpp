#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/synthetic.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::as_matrix;
using testing::enrollment;
using testing::photo_of;
using testing::Population;
using testing::random_unit;
using testing::recall_at_1;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 64;

std::string file_bytes(const fs::path& path) {
  return fs::exists(path) ? testing::read_text(path) : std::string();
}

// Everything on disk of a gallery, concatenated (to look for leftovers).
std::string all_bytes(const fs::path& dir) {
  std::string bytes;
  for (const auto& entry : fs::directory_iterator(dir)) bytes += file_bytes(entry.path());
  return bytes;
}

bool contains(const std::string& haystack, const void* needle, std::size_t n) {
  return std::search(haystack.begin(), haystack.end(), static_cast<const char*>(needle),
                     static_cast<const char*>(needle) + n) != haystack.end();
}

void sql(const fs::path& db, const std::string& statement) {
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(handle, statement.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(handle);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

TEST(Gallery, CreateOpenAndEmptySearch) {
  TempDir tmp;
  const auto dir = tmp / "g";
  const EmbedderInfo model = synthetic_model(kDim);
  {
    Gallery g = Gallery::create(dir, model);
    EXPECT_TRUE(g.model().same_space(model));
    EXPECT_EQ(g.size(), 0u);
    EXPECT_TRUE(g.people().empty());
    std::mt19937 rng(1);
    const auto results = g.search(as_matrix({random_unit(rng, kDim)}), 5);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].empty());
    EXPECT_TRUE(g.check_integrity().ok);
  }
  EXPECT_TRUE(fs::exists(dir / kGalleryDbName));
  EXPECT_TRUE(fs::exists(dir / kGalleryIndexName));
  EXPECT_THROW(Gallery::create(dir, model), GalleryError);
  Gallery reopened = Gallery::open(dir, GalleryMode::read);
  EXPECT_EQ(reopened.model().name, "synthetic");
  EXPECT_EQ(reopened.model().dim, kDim);
  EXPECT_EQ(reopened.model().input_size, 112);
  EXPECT_EQ(reopened.options().index_factory, "Flat");
}

TEST(Gallery, SearchFindsThePersonAndPersistsAcrossReopen) {
  TempDir tmp;
  Population pop(30, 5);
  const EmbedderInfo model = synthetic_model(kDim);
  {
    Gallery g = Gallery::create(tmp / "g", model);
    const auto ids = g.enroll(model, pop.enrollments);
    EXPECT_EQ(ids.size(), pop.enrollments.size());
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  }
  Gallery g = Gallery::open(tmp / "g");
  EXPECT_EQ(g.size(), 150u);
  ASSERT_EQ(g.people().size(), 30u);
  EXPECT_EQ(g.people()[0].faces, 5);
  EXPECT_EQ(g.people()[0].images, 5);
  std::vector<std::vector<float>> queries;
  std::vector<std::string> truth;
  for (const auto& [name, centre] : pop.centres) {
    queries.push_back(pop.new_photo(name));
    truth.push_back(name);
  }
  const auto results = g.search(as_matrix(queries), 7);
  ASSERT_EQ(results.size(), truth.size());
  for (std::size_t q = 0; q < truth.size(); ++q) {
    ASSERT_EQ(results[q].size(), 7u);
    EXPECT_EQ(results[q][0].person, truth[q]);
    for (std::size_t j = 0; j < results[q].size(); ++j) {
      const Neighbor& n = results[q][j];
      EXPECT_NEAR(n.l2, std::sqrt(std::max(0.0f, 2 - 2 * n.cosine)), 1e-5);
      if (j > 0) {
        EXPECT_GE(results[q][j - 1].cosine, n.cosine);
      }
    }
    EXPECT_GT(results[q][0].cosine, 0.6f);  // same person: about 0.75
    EXPECT_LT(results[q][6].cosine, 0.5f);  // 7th neighbour is someone else: about 0
  }
  // k larger than the gallery: everything, once.
  EXPECT_EQ(g.search(as_matrix({queries[0]}), 1000)[0].size(), 150u);
  EXPECT_THROW(g.search(as_matrix({std::vector<float>(kDim + 1, 0.1f)}), 3), InputError);
  EXPECT_TRUE(g.check_integrity().ok);
}

TEST(Gallery, EnrollmentIsValidatedAndAllOrNothing) {
  TempDir tmp;
  Population pop(3, 2);
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model);
  const auto generation = g.generation();
  auto batch = pop.enrollments;
  batch.back().embedding[0] += 0.5f;  // not unit any more
  EXPECT_THROW(g.enroll(model, batch), InputError);
  batch.back() = pop.enrollments.back();
  batch.back().embedding.pop_back();
  EXPECT_THROW(g.enroll(model, batch), InputError);
  batch.back() = pop.enrollments.back();
  batch.back().person = "";
  EXPECT_THROW(g.enroll(model, batch), InputError);
  batch.back() = pop.enrollments.back();
  batch.back().embedding[3] = NAN;
  EXPECT_THROW(g.enroll(model, batch), InputError);
  EXPECT_EQ(g.size(), 0u);
  EXPECT_EQ(g.generation(), generation);
  EXPECT_TRUE(g.people().empty());
  EXPECT_TRUE(g.enroll(model, {}).empty());
  EXPECT_EQ(g.enroll(model, pop.enrollments).size(), 6u);
  EXPECT_EQ(g.generation(), generation + 1);
}

TEST(Gallery, RefusesAnotherModelAndStaysUnchanged) {
  TempDir tmp;
  Population pop(2, 2);
  const EmbedderInfo model = synthetic_model(kDim);
  {
    Gallery g = Gallery::create(tmp / "g", model);
    g.enroll(model, pop.enrollments);
  }
  const std::string before = file_bytes(tmp / "g" / kGalleryDbName);
  const std::string index_before = file_bytes(tmp / "g" / kGalleryIndexName);
  {
    Gallery g = Gallery::open(tmp / "g");
    EmbedderInfo other = synthetic_model(kDim, "clip:ViT-B-32");
    EXPECT_THROW(g.require_model(other), GalleryError);
    EXPECT_THROW(g.enroll(other, pop.enrollments), GalleryError);
    EmbedderInfo other_checksum = model;
    other_checksum.checksum = "ffff";
    EXPECT_THROW(g.enroll(other_checksum, pop.enrollments), GalleryError);
    EmbedderInfo other_crop = model;
    other_crop.crop_style = "loose";
    try {
      g.enroll(other_crop, pop.enrollments);
      ADD_FAILURE() << "a crop style mismatch was accepted";
    } catch (const GalleryError& e) {
      EXPECT_NE(std::string(e.what()).find("model mismatch"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(g.require_model(model));
    EXPECT_EQ(g.size(), 4u);
  }
  EXPECT_EQ(file_bytes(tmp / "g" / kGalleryDbName), before);
  EXPECT_EQ(file_bytes(tmp / "g" / kGalleryIndexName), index_before);
}

TEST(Gallery, PeopleFacesCropsAndImages) {
  TempDir tmp;
  std::mt19937 rng(3);
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model);
  const auto centre = random_unit(rng, kDim);
  // Two faces in one group photo (one image row), one with a crop.
  std::vector<Enrollment> batch = {enrollment("ann", photo_of(centre, rng), "group", "PNGDATA"),
                                   enrollment("ben", random_unit(rng, kDim), "group"),
                                   enrollment("ann", photo_of(centre, rng), "solo")};
  batch[1].face.box = {300, 40, 90, 100};
  const auto ids = g.enroll(model, batch);
  const auto people = g.people();
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].name, "ann");
  EXPECT_EQ(people[0].faces, 2);
  EXPECT_EQ(people[0].images, 2);
  EXPECT_EQ(people[1].name, "ben");
  EXPECT_EQ(people[1].faces, 1);
  EXPECT_FALSE(people[0].created.empty());
  const auto faces = g.faces("ann");
  ASSERT_EQ(faces.size(), 2u);
  EXPECT_EQ(faces[0].image_path, "/photos/group.jpg");
  EXPECT_EQ(faces[0].image_sha256, "sha-group");
  EXPECT_TRUE(faces[0].has_crop);
  EXPECT_FALSE(faces[1].has_crop);
  EXPECT_FLOAT_EQ(faces[0].face.box.width, 100);
  EXPECT_FLOAT_EQ(faces[0].face.landmarks[4].x, 70);
  EXPECT_FLOAT_EQ(faces[0].face.landmarks[4].y, 54);
  EXPECT_FLOAT_EQ(g.faces("ben")[0].face.box.x, 300);
  EXPECT_EQ(g.crop_png(ids[0]), "PNGDATA");
  EXPECT_EQ(g.crop_png(ids[1]), "");
  EXPECT_TRUE(g.contains_image("sha-group"));
  EXPECT_FALSE(g.contains_image("sha-other"));
  EXPECT_THROW(g.faces("nobody"), InputError);
}

TEST(Gallery, RemovePersonLeavesNothingBehind) {
  TempDir tmp;
  Population pop(10, 4);
  const EmbedderInfo model = synthetic_model(kDim);
  const auto dir = tmp / "g";
  Gallery g = Gallery::create(dir, model);
  auto batch = pop.enrollments;
  const std::string crop = "CROP-OF-PERSON3-" + std::string(64, 'x');
  for (auto& e : batch) {
    if (e.person == "person3") e.crop_png = crop;
  }
  g.enroll(model, batch);
  g.flush();
  const Enrollment& victim = pop.enrollments[3 * 4 + 1];
  ASSERT_EQ(victim.person, "person3");
  const std::size_t bytes = victim.embedding.size() * sizeof(float);
  // The pattern is on disk before (in the database or its log, and in the index)...
  EXPECT_TRUE(contains(all_bytes(dir), victim.embedding.data(), bytes));
  EXPECT_TRUE(contains(file_bytes(dir / kGalleryIndexName), victim.embedding.data(), bytes));
  EXPECT_TRUE(contains(all_bytes(dir), crop.data(), crop.size()));

  EXPECT_EQ(g.remove_person("person3"), 4);
  // ...and nowhere after: not in gallery.db, not in its WAL, not in the index.
  EXPECT_FALSE(contains(all_bytes(dir), victim.embedding.data(), bytes));
  EXPECT_FALSE(contains(all_bytes(dir), crop.data(), crop.size()));
  EXPECT_FALSE(contains(all_bytes(dir), "sha-person3-1", 13));
  EXPECT_EQ(g.size(), 36u);
  EXPECT_EQ(g.people().size(), 9u);
  EXPECT_THROW(g.remove_person("person3"), InputError);
  const auto results = g.search(as_matrix({victim.embedding}), 50);
  for (const auto& n : results[0]) EXPECT_NE(n.person, "person3");
  EXPECT_EQ(results[0].size(), 36u);
  EXPECT_TRUE(g.check_integrity().ok);

  // Another process's view (opened before the removal) stops returning them too.
  Gallery reopened = Gallery::open(dir, GalleryMode::read);
  const auto seen = reopened.search(as_matrix({victim.embedding}), 50);
  for (const auto& n : seen[0]) EXPECT_NE(n.person, "person3");
}

TEST(Gallery, RemovalSeenByAnOpenReader) {
  TempDir tmp;
  Population pop(5, 3);
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery writer = Gallery::create(tmp / "g", model);
  writer.enroll(model, pop.enrollments);
  Gallery reader = Gallery::open(tmp / "g", GalleryMode::read);
  const auto query = as_matrix({pop.new_photo("person2")});
  EXPECT_EQ(reader.search(query, 1)[0][0].person, "person2");
  writer.remove_person("person2");
  const auto after = reader.search(query, 20);
  for (const auto& n : after[0]) EXPECT_NE(n.person, "person2");
  EXPECT_EQ(reader.search(query, 20)[0].size(), 12u);
}

TEST(Gallery, RenamePerson) {
  TempDir tmp;
  Population pop(4, 3);
  const EmbedderInfo model = synthetic_model(kDim);
  {
    Gallery g = Gallery::create(tmp / "g", model);
    g.enroll(model, pop.enrollments);
    g.rename_person("person1", "Grace Hopper");
    EXPECT_THROW(g.rename_person("person1", "x"), InputError);
    EXPECT_THROW(g.rename_person("person0", "person2"), InputError);
    EXPECT_THROW(g.rename_person("person0", ""), InputError);
  }
  Gallery g = Gallery::open(tmp / "g");
  const auto hit = g.search(as_matrix({pop.new_photo("person1")}), 3)[0];
  EXPECT_EQ(hit[0].person, "Grace Hopper");
  std::set<std::string> names;
  for (const auto& p : g.people()) names.insert(p.name);
  EXPECT_EQ(names, (std::set<std::string>{"Grace Hopper", "person0", "person2", "person3"}));
  EXPECT_EQ(g.faces("Grace Hopper").size(), 3u);
  EXPECT_TRUE(g.check_integrity().ok);
}

TEST(Gallery, MissingStaleOrBrokenIndexIsRebuilt) {
  TempDir tmp;
  Population pop(6, 3);
  const EmbedderInfo model = synthetic_model(kDim);
  const auto dir = tmp / "g";
  const std::vector<Enrollment> first(pop.enrollments.begin(), pop.enrollments.begin() + 9);
  const std::vector<Enrollment> second(pop.enrollments.begin() + 9, pop.enrollments.end());
  {
    Gallery g = Gallery::create(dir, model);
    g.enroll(model, first);
  }
  fs::copy_file(dir / kGalleryIndexName, tmp / "old.faiss");
  {
    Gallery g = Gallery::open(dir);
    g.enroll(model, second);
  }
  auto expect_complete = [&]() {
    Gallery g = Gallery::open(dir);
    EXPECT_TRUE(g.check_integrity().ok);
    EXPECT_EQ(g.check_integrity().indexed, 18u);
    EXPECT_EQ(g.search(as_matrix({pop.new_photo("person5")}), 1)[0][0].person, "person5");
  };
  // An older index (stamp from an earlier generation).
  fs::copy_file(tmp / "old.faiss", dir / kGalleryIndexName, fs::copy_options::overwrite_existing);
  expect_complete();
  EXPECT_NE(file_bytes(dir / kGalleryIndexName), file_bytes(tmp / "old.faiss"));  // rewritten
  // No index at all.
  fs::remove(dir / kGalleryIndexName);
  expect_complete();
  EXPECT_TRUE(fs::exists(dir / kGalleryIndexName));
  // Junk instead of an index, and a truncated one.
  std::ofstream(dir / kGalleryIndexName) << "junk";
  expect_complete();
  const std::string good = file_bytes(dir / kGalleryIndexName);
  std::ofstream(dir / kGalleryIndexName, std::ios::binary) << good.substr(0, good.size() / 2);
  expect_complete();
  // A read-only open rebuilds in memory only.
  fs::remove(dir / kGalleryIndexName);
  {
    Gallery g = Gallery::open(dir, GalleryMode::read);
    EXPECT_EQ(g.search(as_matrix({pop.new_photo("person0")}), 1)[0][0].person, "person0");
  }
  EXPECT_FALSE(fs::exists(dir / kGalleryIndexName));
}

TEST(Gallery, IndexOfAnotherGalleryIsNotUsed) {
  TempDir tmp;
  Population pop(4, 2);
  const EmbedderInfo model = synthetic_model(kDim);
  {
    Gallery a = Gallery::create(tmp / "a", model);
    a.enroll(model, pop.enrollments);
    Gallery b = Gallery::create(tmp / "b", model);
    auto renamed = pop.enrollments;
    for (auto& e : renamed) e.person = "b-" + e.person;
    b.enroll(model, renamed);
  }
  // Same generation and count, different gallery.
  fs::copy_file(tmp / "a" / kGalleryIndexName, tmp / "b" / kGalleryIndexName,
                fs::copy_options::overwrite_existing);
  Gallery b = Gallery::open(tmp / "b");
  EXPECT_TRUE(b.check_integrity().ok);
  EXPECT_EQ(b.search(as_matrix({pop.new_photo("person1")}), 1)[0][0].person, "b-person1");
}

TEST(Gallery, IvfTrainsOnceThereIsEnoughAndSearchesWell) {
  TempDir tmp;
  Population pop(200, 5);  // 1000 vectors
  const EmbedderInfo model = synthetic_model(kDim);
  GalleryOptions options;
  options.index_factory = "IVF16,Flat";  // needs 16 * 39 = 624 vectors to train
  options.search_params = "nprobe=4";
  Gallery g = Gallery::create(tmp / "g", model, options);
  const std::vector<Enrollment> few(pop.enrollments.begin(), pop.enrollments.begin() + 100);
  const std::vector<Enrollment> rest(pop.enrollments.begin() + 100, pop.enrollments.end());
  auto ids = g.enroll(model, few);
  EXPECT_NE(g.index_description().find("exact"), std::string::npos) << g.index_description();
  const auto more = g.enroll(model, rest);
  ids.insert(ids.end(), more.begin(), more.end());
  EXPECT_EQ(g.index_description(), "IVF16,Flat");
  EXPECT_GE(recall_at_1(g, pop, ids, 200), 0.95);
  EXPECT_TRUE(g.check_integrity().ok);
  // Reopened from the saved, trained index.
  g.flush();
  Gallery reopened = Gallery::open(tmp / "g", GalleryMode::read);
  EXPECT_EQ(reopened.index_description(), "IVF16,Flat");
  EXPECT_GE(recall_at_1(reopened, pop, ids, 200), 0.95);
  // Removing keeps the trained quantizer and still finds everyone else.
  g.remove_person("person7");
  EXPECT_EQ(g.index_description(), "IVF16,Flat");
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(g.check_integrity().indexed, 995u);
}

TEST(Gallery, HnswAndRefinedScalarQuantizerWork) {
  Population pop(200, 5);
  const EmbedderInfo model = synthetic_model(kDim);
  for (const std::string factory : {"HNSW32", "IVF16,SQ8,RFlat", "IVF16,PQ16x4,Refine(Flat)"}) {
    SCOPED_TRACE(factory);
    TempDir tmp;
    GalleryOptions options;
    options.index_factory = factory;
    Gallery g = Gallery::create(tmp / "g", model, options);
    const auto ids = g.enroll(model, pop.enrollments);
    EXPECT_EQ(g.index_description(), factory);
    g.set_search_params(factory == "HNSW32" ? "efSearch=64" : "nprobe=8,k_factor_rf=8");
    EXPECT_GE(recall_at_1(g, pop, ids, 200), 0.95);
    EXPECT_TRUE(g.check_integrity().ok);
  }
}

TEST(Gallery, ReindexSwitchesTheIndexAndRemembersIt) {
  TempDir tmp;
  Population pop(200, 5);
  const EmbedderInfo model = synthetic_model(kDim);
  std::vector<std::int64_t> ids;
  {
    Gallery g = Gallery::create(tmp / "g", model);
    ids = g.enroll(model, pop.enrollments);
    EXPECT_THROW(g.reindex(GalleryOptions{"IVF16,Bogus", ""}), InputError);
    EXPECT_EQ(g.index_description(), "Flat");
    g.reindex(GalleryOptions{"IVF16,Flat", "nprobe=8"});
    EXPECT_EQ(g.index_description(), "IVF16,Flat");
  }
  Gallery g = Gallery::open(tmp / "g", GalleryMode::read);
  EXPECT_EQ(g.options().index_factory, "IVF16,Flat");
  EXPECT_EQ(g.options().search_params, "nprobe=8");
  EXPECT_EQ(g.index_description(), "IVF16,Flat");
  EXPECT_GE(recall_at_1(g, pop, ids, 200), 0.95);
}

TEST(Gallery, BadIndexSettingsAreRefused) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  GalleryOptions options;
  options.index_factory = "NoSuchIndex42";
  EXPECT_THROW(Gallery::create(tmp / "a", model, options), InputError);
  options.index_factory = "IVF16,Flat";
  options.search_params = "bogus=3";
  EXPECT_THROW(Gallery::create(tmp / "b", model, options), InputError);
  EXPECT_FALSE(fs::exists(tmp / "a" / kGalleryDbName));
  EXPECT_THROW(Gallery::create(tmp / "c", synthetic_model(0)), InputError);
}

TEST(Gallery, MissingAndForeignGalleriesAreRefused) {
  TempDir tmp;
  auto expect_error = [](const fs::path& dir, const std::string& fragment) {
    try {
      Gallery::open(dir);
      ADD_FAILURE() << "opened " << dir;
    } catch (const GalleryError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(dir.string()), std::string::npos) << e.what();
    }
  };
  expect_error(tmp / "nothing", "no gallery");
  fs::create_directories(tmp / "empty");
  expect_error(tmp / "empty", "not a clipface gallery");
  std::ofstream(tmp / "file") << "x";
  expect_error(tmp / "file", "not a clipface gallery");
  fs::create_directories(tmp / "junk");
  {
    std::ofstream junk(tmp / "junk" / kGalleryDbName, std::ios::binary);
    for (int i = 0; i < 5000; ++i) junk << char(i * 7919 % 251);
  }
  const std::string junk_before = file_bytes(tmp / "junk" / kGalleryDbName);
  expect_error(tmp / "junk", "not a clipface gallery");
  EXPECT_EQ(file_bytes(tmp / "junk" / kGalleryDbName), junk_before);
  fs::create_directories(tmp / "zero");
  std::ofstream(tmp / "zero" / kGalleryDbName).close();
  expect_error(tmp / "zero", "not a clipface gallery");
  fs::create_directories(tmp / "other");
  sql(tmp / "other" / kGalleryDbName, "CREATE TABLE songs(title TEXT)");
  expect_error(tmp / "other", "not a clipface gallery");
  // A meta table of some other program.
  fs::create_directories(tmp / "othermeta");
  sql(tmp / "othermeta" / kGalleryDbName,
      "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES ('format', 'other')");
  expect_error(tmp / "othermeta", "not a clipface gallery");
}

TEST(Gallery, NewerSchemaIsRefused) {
  TempDir tmp;
  { Gallery::create(tmp / "g", synthetic_model(kDim)); }
  sql(tmp / "g" / kGalleryDbName, "PRAGMA user_version = 99");
  try {
    Gallery::open(tmp / "g");
    ADD_FAILURE() << "opened a newer gallery";
  } catch (const GalleryError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

TEST(Gallery, ReadModeRefusesChanges) {
  TempDir tmp;
  Population pop(2, 2);
  const EmbedderInfo model = synthetic_model(kDim);
  { Gallery::create(tmp / "g", model).enroll(model, pop.enrollments); }
  Gallery g = Gallery::open(tmp / "g", GalleryMode::read);
  EXPECT_THROW(g.enroll(model, pop.enrollments), GalleryError);
  EXPECT_THROW(g.remove_person("person0"), GalleryError);
  EXPECT_THROW(g.rename_person("person0", "x"), GalleryError);
  EXPECT_EQ(g.size(), 4u);
}

TEST(Gallery, WriterWaitsThenReportsBusy) {
  TempDir tmp;
  Population pop(2, 2);
  const EmbedderInfo model = synthetic_model(kDim);
  { Gallery::create(tmp / "g", model); }
  OpenOptions options;
  options.busy_timeout_ms = 200;
  Gallery g = Gallery::open(tmp / "g", options);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((tmp / "g" / kGalleryDbName).c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto start = std::chrono::steady_clock::now();
  try {
    g.enroll(model, pop.enrollments);
    ADD_FAILURE() << "enrolled while another process held the write lock";
  } catch (const GalleryError& e) {
    EXPECT_NE(std::string(e.what()).find("gallery busy"), std::string::npos) << e.what();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_EQ(g.size(), 0u);
  EXPECT_EQ(g.enroll(model, pop.enrollments).size(), 4u);
}

TEST(Gallery, IntegrityCheckFindsDamage) {
  TempDir tmp;
  Population pop(3, 3);
  const EmbedderInfo model = synthetic_model(kDim);
  { Gallery::create(tmp / "g", model).enroll(model, pop.enrollments); }
  EXPECT_TRUE(Gallery::open(tmp / "g").check_integrity().ok);
  // A face without its embedding (written behind the gallery's back).
  sql(tmp / "g" / kGalleryDbName, "DELETE FROM embeddings WHERE face_id = 2");
  {
    const auto report = Gallery::open(tmp / "g").check_integrity();
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.faces, 9u);
    EXPECT_EQ(report.embeddings, 8u);
    ASSERT_FALSE(report.problems.empty());
    EXPECT_NE(report.problems[0].find("no embedding"), std::string::npos) << report.problems[0];
  }
  // A vector that is not unit length.
  sql(tmp / "g" / kGalleryDbName, "UPDATE embeddings SET vector = zeroblob(" +
                                      std::to_string(kDim * 4) + ") WHERE face_id = 3");
  EXPECT_GE(Gallery::open(tmp / "g").check_integrity().problems.size(), 2u);
}

}  // namespace
}  // namespace clipface
