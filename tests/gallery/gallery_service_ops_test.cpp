// The gallery operations a recognition service needs (subjects without faces, merge on rename,
// faces paged and removed by id, everyone removed) and snapshots that searches use in parallel
// with writes: a search sees a write whole or not at all.
#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/synthetic.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::as_matrix;
using testing::enrollment;
using testing::Population;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 64;

std::string all_bytes(const fs::path& dir) {
  std::string bytes;
  for (const auto& entry : fs::directory_iterator(dir)) bytes += testing::read_text(entry.path());
  return bytes;
}

bool contains(const std::string& haystack, const void* needle, std::size_t n) {
  return std::search(haystack.begin(), haystack.end(), static_cast<const char*>(needle),
                     static_cast<const char*>(needle) + n) != haystack.end();
}

TEST(GalleryServiceOps, PersonWithoutFacesIsKeptAndValid) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model);
  EXPECT_TRUE(g.add_person("Ada"));
  EXPECT_FALSE(g.add_person("Ada"));  // exists: nothing changes
  EXPECT_THROW(g.add_person(""), InputError);
  ASSERT_EQ(g.people().size(), 1u);
  EXPECT_EQ(g.people()[0].faces, 0);
  EXPECT_TRUE(g.check_integrity().ok);  // an empty subject is not damage
  EXPECT_EQ(g.list_faces("Ada", 0, 10).total, 0);
  EXPECT_EQ(g.person_embeddings("Ada").rows, 0u);
  // Its first face lands on the same person.
  Population pop(1, 2);
  auto batch = pop.enrollments;
  for (auto& e : batch) e.person = "Ada";
  g.enroll(model, batch);
  ASSERT_EQ(g.people().size(), 1u);
  EXPECT_EQ(g.people()[0].faces, 2);
  EXPECT_TRUE(g.check_integrity().ok);
  // Read-only galleries refuse.
  Gallery reader = Gallery::open(tmp / "g", GalleryMode::read);
  EXPECT_THROW(reader.add_person("Bob"), GalleryError);
}

TEST(GalleryServiceOps, MergeMovesEveryFaceOntoTheOtherPerson) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Population pop(3, 4);
  Gallery g = Gallery::create(tmp / "g", model);
  g.enroll(model, pop.enrollments);
  const auto query = pop.new_photo("person1");
  EXPECT_EQ(g.search(as_matrix({query}), 1)[0][0].person, "person1");

  EXPECT_EQ(g.merge(FaceGroup{"person1"}, FaceGroup{"person2"}), 4);
  EXPECT_EQ(g.people().size(), 2u);
  EXPECT_EQ(g.faces("person2").size(), 8u);
  EXPECT_THROW(g.faces("person1"), InputError);
  EXPECT_EQ(g.search(as_matrix({query}), 1)[0][0].person, "person2");
  EXPECT_EQ(g.snapshot()->search(as_matrix({query}), 1)[0][0].person, "person2");
  EXPECT_TRUE(g.check_integrity().ok);

  EXPECT_THROW(g.merge(FaceGroup{"person2"}, FaceGroup{"person2"}), InputError);
  EXPECT_THROW(g.merge(FaceGroup{"nobody"}, FaceGroup{"person2"}), InputError);
  EXPECT_THROW(g.merge(FaceGroup{"person2"}, FaceGroup{"nobody"}), InputError);
  EXPECT_EQ(g.faces("person2").size(), 8u);  // failed merges changed nothing
}

TEST(GalleryServiceOps, FacesArePagedAllOrByPerson) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Population pop(3, 5);
  Gallery g = Gallery::create(tmp / "g", model);
  const auto ids = g.enroll(model, pop.enrollments);

  const FacePage first = g.list_faces("", 0, 4);
  EXPECT_EQ(first.total, 15);
  ASSERT_EQ(first.faces.size(), 4u);
  EXPECT_EQ(first.faces[0].id, ids[0]);
  EXPECT_EQ(first.faces[3].id, ids[3]);
  const FacePage last = g.list_faces("", 12, 4);
  ASSERT_EQ(last.faces.size(), 3u);
  EXPECT_EQ(last.faces[2].id, ids[14]);
  EXPECT_TRUE(g.list_faces("", 15, 4).faces.empty());

  const FacePage person1 = g.list_faces("person1", 1, 10);
  EXPECT_EQ(person1.total, 5);
  ASSERT_EQ(person1.faces.size(), 4u);
  for (const auto& f : person1.faces) EXPECT_EQ(f.person, "person1");
  EXPECT_EQ(person1.faces[0].id, ids[6]);
  EXPECT_EQ(person1.faces[0].image_sha256, "sha-person1-1");

  EXPECT_THROW(g.list_faces("nobody", 0, 10), InputError);
  EXPECT_THROW(g.list_faces("", -1, 10), InputError);

  const auto one = g.face(ids[7]);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->person, "person1");
  EXPECT_FLOAT_EQ(one->face.box.width, 100);
  EXPECT_FALSE(g.face(999999).has_value());

  const Matrix vectors = g.person_embeddings("person2");
  ASSERT_EQ(vectors.rows, 5u);
  for (std::size_t c = 0; c < kDim; ++c)
    EXPECT_FLOAT_EQ(vectors.at(0, c), pop.enrollments[10].embedding[c]);
}

// Removing faces by id leaves nothing of them in gallery.db, its log or the index, for the
// gallery's exact index and for clipface's int8 IVF (which removes in place).
class RemoveFaces : public ::testing::TestWithParam<std::string> {};

TEST_P(RemoveFaces, ByIdLeavesNothingOfThemBehindAndKeepsThePerson) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Population pop(40, 5);
  GalleryOptions options;
  options.index_factory = GetParam();
  const auto dir = tmp / "g";
  Gallery g = Gallery::create(dir, model, options);
  auto batch = pop.enrollments;
  const std::string crop = "CROP-OF-FACE-" + std::string(64, 'y');
  batch[7].crop_png = crop;
  const auto ids = g.enroll(model, batch);
  g.flush();
  const Enrollment& victim = batch[7];
  const std::size_t bytes = victim.embedding.size() * sizeof(float);
  ASSERT_TRUE(contains(all_bytes(dir), victim.embedding.data(), bytes));
  // A snapshot taken before the removal keeps seeing the old state (the index is copied).
  const auto before = g.snapshot();

  const auto removed = g.remove_labelled_faces({ids[8], ids[7], 123456789, ids[7]});
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0].id, ids[7]);
  EXPECT_EQ(removed[0].person, victim.person);
  EXPECT_EQ(removed[1].id, ids[8]);
  EXPECT_FALSE(contains(all_bytes(dir), victim.embedding.data(), bytes));
  EXPECT_FALSE(contains(all_bytes(dir), crop.data(), crop.size()));
  EXPECT_FALSE(contains(all_bytes(dir), victim.image_sha256.data(), victim.image_sha256.size()));
  EXPECT_EQ(g.size(), 198u);
  EXPECT_EQ(g.faces(victim.person).size(), 3u);  // the person stays
  EXPECT_TRUE(g.check_integrity().ok);
  const auto q = as_matrix({victim.embedding});
  const auto now = g.search(q, 20);
  for (const auto& n : now[0]) EXPECT_NE(n.face_id, ids[7]);
  const auto now_snapshot = g.snapshot()->search(q, 20);
  for (const auto& n : now_snapshot[0]) EXPECT_NE(n.face_id, ids[7]);
  const auto old_view = before->search(q, 1)[0];
  ASSERT_EQ(old_view.size(), 1u);
  EXPECT_EQ(old_view[0].face_id, ids[7]);
  EXPECT_EQ(before->size(), 200u);
  // Nothing to remove: no change at all.
  const auto generation = g.generation();
  EXPECT_TRUE(g.remove_labelled_faces({ids[7], 5555555}).empty());
  EXPECT_EQ(g.generation(), generation);
  // Removing a person's last faces keeps the person, without faces.
  const std::string person = victim.person;
  std::vector<std::int64_t> rest;
  for (const auto& f : g.faces(person)) rest.push_back(f.id);
  EXPECT_EQ(g.remove_labelled_faces(rest).size(), 3u);
  EXPECT_TRUE(g.faces(person).empty());
  EXPECT_TRUE(g.check_integrity().ok);
}

INSTANTIATE_TEST_SUITE_P(Indexes, RemoveFaces, ::testing::Values("Flat", "CFIVF4"));

TEST(GalleryServiceOps, RemoveAllPeopleEmptiesEverything) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Population pop(4, 3);
  const auto dir = tmp / "g";
  Gallery g = Gallery::create(dir, model);
  g.enroll(model, pop.enrollments);
  g.add_person("empty");
  g.flush();
  EXPECT_EQ(g.remove_all_people(), 5);
  EXPECT_EQ(g.size(), 0u);
  EXPECT_TRUE(g.people().empty());
  for (const auto& e : pop.enrollments) {
    EXPECT_FALSE(contains(all_bytes(dir), e.embedding.data(), e.embedding.size() * sizeof(float)));
  }
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_TRUE(g.search(as_matrix({pop.enrollments[0].embedding}), 3)[0].empty());
  EXPECT_EQ(g.remove_all_people(), 0);
}

TEST(GalleryServiceOps, SnapshotIsCurrentUntilSomethingChanges) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Population pop(3, 2);
  Gallery g = Gallery::create(tmp / "g", model);
  g.enroll(model, pop.enrollments);
  const auto s1 = g.snapshot();
  EXPECT_EQ(g.snapshot(), s1);  // nothing changed: the same snapshot
  EXPECT_EQ(s1->size(), 6u);
  EXPECT_EQ(s1->people(), 3u);
  EXPECT_TRUE(s1->model().same_space(model));

  g.rename_person("person0", "Zed");  // no new generation, yet a new snapshot
  const auto s2 = g.snapshot();
  ASSERT_NE(s2, s1);
  const auto q = as_matrix({pop.new_photo("person0")});
  EXPECT_EQ(s2->search(q, 1)[0][0].person, "Zed");
  EXPECT_EQ(s1->search(q, 1)[0][0].person, "person0");  // the old one is unchanged

  // A change committed through another connection (another process) is seen too.
  {
    Gallery other = Gallery::open(tmp / "g");
    other.rename_person("Zed", "Ann");
  }
  const auto s3 = g.snapshot();
  ASSERT_NE(s3, s2);
  EXPECT_EQ(s3->search(q, 1)[0][0].person, "Ann");
  {
    Gallery other = Gallery::open(tmp / "g");
    other.enroll(model, {enrollment("Bea", pop.new_photo("person1"), "bea")});
  }
  const auto s4 = g.snapshot();
  EXPECT_EQ(s4->size(), 7u);
  EXPECT_GT(s4->generation(), s3->generation());
  EXPECT_THROW(s4->search(Matrix(1, kDim + 1), 1), InputError);
  EXPECT_THROW(s4->search(q, 0), InputError);
}

// Writers enroll whole people (5 faces in one transaction) and remove them again while readers
// search snapshots: every search sees each of those people with all 5 faces or none.
TEST(GalleryServiceOps, SearchesOnSnapshotsNeverSeeHalfAWrite) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  Population pop(20, 3);
  Gallery g = Gallery::create(tmp / "g", model);
  g.enroll(model, pop.enrollments);
  std::atomic<std::shared_ptr<const GallerySnapshot>> current(g.snapshot());
  std::atomic<bool> done = false;
  std::atomic<int> searches = 0;
  std::atomic<int> torn = 0;
  std::mt19937 rng(3);
  const auto query = as_matrix({testing::random_unit(rng, kDim)});

  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        const auto snapshot = current.load();
        const auto all = snapshot->search(query, 1000)[0];
        std::map<std::string, int> count;
        for (const auto& n : all) ++count[n.person];
        for (const auto& [person, n] : count) {
          if (person.rfind("batch", 0) == 0 && n != 5) ++torn;
        }
        if (all.size() != snapshot->size()) ++torn;
        ++searches;
      }
    });
  }
  for (int round = 0; round < 30; ++round) {
    const std::string person = "batch" + std::to_string(round);
    std::vector<Enrollment> batch;
    for (int i = 0; i < 5; ++i) {
      batch.push_back(
          enrollment(person, testing::random_unit(rng, kDim), person + "-" + std::to_string(i)));
    }
    g.enroll(model, batch);
    current.store(g.snapshot());
    if (round % 3 == 2) {
      g.remove_person("batch" + std::to_string(round - 1));
      current.store(g.snapshot());
    }
  }
  while (searches < 100) std::this_thread::yield();
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(current.load()->size(), 60u + 20 * 5);
  EXPECT_TRUE(g.check_integrity().ok);
}

}  // namespace
}  // namespace clipface
