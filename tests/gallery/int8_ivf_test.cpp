// clipface's int8 IVF ("CFIVF<nlist>"): the SIMD kernels against the scalar reference, exact
// and approximate search quality, and the gallery's guarantees with this index (saved and
// loaded beside the database, rebuilt when damaged, bad settings refused, removal in place).
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>

#include "clipface/classify.hpp"
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/int8_ivf_index.hpp"
#include "gallery/int8_ivf_io.hpp"
#include "gallery/int8_kernels.hpp"
#include "gallery/synthetic.hpp"
#include "gallery/vector_index.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using gallery_detail::force_int8_isa;
using gallery_detail::int8_isa;
using gallery_detail::int8_isa_supported;
using gallery_detail::Int8Isa;
using gallery_detail::Int8IvfIndex;
using gallery_detail::VectorIndex;
using testing::as_matrix;
using testing::FaceSpace;
using testing::Population;
using testing::recall_at_1;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 512;  // the size of real face embeddings: int8 precision is tested at scale
// Small vectors for plumbing; 2000 of them are enough for the index to whiten its routing space
// (16 per dimension), so files and reloads carry every part of it.
constexpr int kSmallDim = 64;

// Restores the kernels chosen at start-up when a test forced others.
class IsaGuard {
 public:
  IsaGuard() : saved_(int8_isa()) {}
  ~IsaGuard() { force_int8_isa(saved_); }
  IsaGuard(const IsaGuard&) = delete;
  IsaGuard& operator=(const IsaGuard&) = delete;

 private:
  Int8Isa saved_;
};

std::string file_bytes(const fs::path& path) {
  return fs::exists(path) ? testing::read_text(path) : std::string();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

GalleryOptions cfivf(int nlist, const std::string& params = "") {
  GalleryOptions options;
  options.index_factory = "CFIVF" + std::to_string(nlist);
  options.search_params = params;
  return options;
}

std::vector<std::vector<Neighbor>> search_all(const Gallery& g, const Matrix& queries, int k) {
  return g.search(queries, k);
}

// All the population's vectors in one array, with ids stride * i + first (the index's own view).
std::pair<std::vector<float>, std::vector<std::int64_t>> flatten(const Population& pop,
                                                                 std::int64_t stride,
                                                                 std::int64_t first) {
  std::vector<float> data;
  std::vector<std::int64_t> ids;
  for (const auto& e : pop.enrollments) {
    data.insert(data.end(), e.embedding.begin(), e.embedding.end());
    ids.push_back(stride * static_cast<std::int64_t>(ids.size()) + first);
  }
  return {std::move(data), std::move(ids)};
}

Matrix queries_of(Population& pop, int n) {
  std::vector<std::vector<float>> rows;
  for (int q = 0; q < n; ++q) {
    rows.push_back(pop.new_photo("person" + std::to_string(q % pop.centres.size())));
  }
  return as_matrix(rows);
}

// Each SIMD kernel set against the portable one, bit for bit.
class SimdKernels : public ::testing::TestWithParam<Int8Isa> {
 protected:
  void SetUp() override {
    if (!int8_isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU cannot run the " << gallery_detail::to_string(GetParam())
                   << " kernels";
    }
  }
  const gallery_detail::Int8Kernels& simd() const {
    return GetParam() == Int8Isa::avx2 ? gallery_detail::avx2_int8_kernels()
                                       : gallery_detail::avx512_vnni_int8_kernels();
  }
};

TEST_P(SimdKernels, MatchScalarExactly) {
  const auto& scalar = gallery_detail::scalar_int8_kernels();
  const auto& fast = simd();
  std::mt19937 rng(3);
  for (const std::size_t dim4 : {4u, 12u, 64u, 100u, 512u}) {
    SCOPED_TRACE(dim4);
    const std::size_t nblocks = 5;
    std::vector<std::int8_t> blocks(nblocks * gallery_detail::block_bytes(dim4));
    // Extremes included: the sums must not saturate.
    for (auto& b : blocks) b = static_cast<std::int8_t>(int(rng() % 256) - 128);
    for (std::size_t i = 0; i < 64; ++i) blocks[i] = 127;
    for (std::size_t i = 64; i < 128 && i < blocks.size(); ++i) blocks[i] = -128;
    std::vector<std::uint8_t> queries(8 * dim4);
    for (auto& q : queries) q = static_cast<std::uint8_t>(rng());
    std::fill(queries.begin(), queries.begin() + dim4, std::uint8_t{255});
    std::vector<std::int32_t> a(8 * nblocks * 16), b(a.size());
    scalar.score_blocks(queries.data(), blocks.data(), nblocks, dim4, a.data());
    fast.score_blocks(queries.data(), blocks.data(), nblocks, dim4, b.data());
    EXPECT_EQ(std::vector<std::int32_t>(a.begin(), a.begin() + nblocks * 16),
              std::vector<std::int32_t>(b.begin(), b.begin() + nblocks * 16));
    for (std::size_t nq = 1; nq <= 8; ++nq) {
      scalar.score_blocks_multi(nq, queries.data(), blocks.data(), nblocks, dim4, a.data());
      fast.score_blocks_multi(nq, queries.data(), blocks.data(), nblocks, dim4, b.data());
      EXPECT_EQ(std::vector<std::int32_t>(a.begin(), a.begin() + nq * nblocks * 16),
                std::vector<std::int32_t>(b.begin(), b.begin() + nq * nblocks * 16))
          << nq << " queries";
    }
  }
}

// The whole index (whitening, training, list assignment, scan, re-ranking) gives bit-identical
// answers with either kernel set.
TEST_P(SimdKernels, BuildAndSearchLikeScalar) {
  IsaGuard guard;
  const FaceSpace space(kDim);
  Population pop(900, 10, space);  // 9000 vectors: enough to whiten the routing space
  const auto [data, ids] = flatten(pop, 1, 100);
  const Matrix queries = queries_of(pop, 50);
  auto run = [&](Int8Isa isa, std::vector<float>* scores, std::vector<std::int64_t>* labels) {
    force_int8_isa(isa);
    Int8IvfIndex index(kDim, 32);
    index.train(static_cast<std::int64_t>(ids.size()), data.data());
    EXPECT_TRUE(index.routing.whitened());
    index.add_with_ids(static_cast<std::int64_t>(ids.size()), data.data(), ids.data());
    index.set_search_params("nprobe=4,rerank=8");
    scores->resize(50 * 5);
    labels->resize(50 * 5);
    index.search(50, queries.data.data(), 5, scores->data(), labels->data());
  };
  std::vector<float> scalar_scores, simd_scores;
  std::vector<std::int64_t> scalar_labels, simd_labels;
  run(Int8Isa::scalar, &scalar_scores, &scalar_labels);
  run(GetParam(), &simd_scores, &simd_labels);
  EXPECT_EQ(scalar_labels, simd_labels);
  EXPECT_EQ(0, std::memcmp(scalar_scores.data(), simd_scores.data(),
                           sizeof(float) * scalar_scores.size()));
}

INSTANTIATE_TEST_SUITE_P(Int8, SimdKernels, ::testing::Values(Int8Isa::avx2, Int8Isa::avx512_vnni),
                         [](const auto& info) { return gallery_detail::to_string(info.param); });

TEST(Int8IvfGallery, ExactTopOneOnASmallSet) {
  TempDir tmp;
  const FaceSpace space(kDim);
  Population pop(200, 5, space);  // 1000 faces, 16 lists: every list probed
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model, cfivf(16));
  const auto ids = g.enroll(model, pop.enrollments);
  EXPECT_EQ(g.index_description(), "CFIVF16");
  EXPECT_EQ(recall_at_1(g, pop, ids, 200), 1.0);
  // Scores are exact fp32 inner products, as with exact search.
  const auto query = pop.new_photo("person3");
  const auto best = g.search(as_matrix({query}), 1)[0][0];
  const auto it = std::find(ids.begin(), ids.end(), best.face_id);
  ASSERT_NE(it, ids.end());
  EXPECT_NEAR(best.cosine, dot(pop.enrollments[it - ids.begin()].embedding, query), 1e-5);
  EXPECT_TRUE(g.check_integrity().ok);
}

// 30 000 face-like embeddings of 3 000 people in 512 lists (about 60 each, as CFIVF16384 at
// 1M), default search parameters (32 lists probed): recall@1 and the identity decided by the
// k1/k2 vote against exact search.
TEST(Int8IvfGallery, RecallOnAModerateSet) {
  TempDir tmp;
  const FaceSpace space(kDim);
  Population pop(3000, 10, space);
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model, cfivf(512));
  const auto ids = g.enroll(model, pop.enrollments);
  ASSERT_EQ(g.index_description(), "CFIVF512");
  const int n = 300;
  const Matrix queries = queries_of(pop, n);
  const auto approx = search_all(g, queries, 5);
  // Exact neighbours from FAISS's flat index over the same vectors.
  faiss::IndexFlatIP flat(kDim);
  for (const auto& e : pop.enrollments) flat.add(1, e.embedding.data());
  std::vector<float> scores(n * 5);
  std::vector<faiss::Index::idx_t> rows(n * 5);
  flat.search(n, queries.data.data(), 5, scores.data(), rows.data());
  const KnnVote vote{3, 5, 1.0f};
  int same_top = 0;
  int same_person = 0;
  for (int q = 0; q < n; ++q) {
    std::vector<Neighbor> exact;
    for (int j = 0; j < 5; ++j) {
      const auto row = static_cast<std::size_t>(rows[q * 5 + j]);
      const float c = scores[q * 5 + j];
      exact.push_back(Neighbor{ids[row], pop.enrollments[row].person, c, l2_from_cosine(c)});
    }
    same_top += !approx[q].empty() && approx[q][0].face_id == exact[0].face_id;
    same_person += decide(vote, approx[q]).label == decide(vote, exact).label;
  }
  EXPECT_GE(same_top, n * 99 / 100) << "recall@1 " << double(same_top) / n;
  EXPECT_GE(same_person, n * 99 / 100) << "identity agreement " << double(same_person) / n;
}

TEST(Int8IvfGallery, SavedAndLoadedBesideTheDatabase) {
  TempDir tmp;
  Population pop(400, 5, kSmallDim);
  const EmbedderInfo model = synthetic_model(kSmallDim);
  const Matrix queries = queries_of(pop, 40);
  std::vector<std::vector<Neighbor>> before;
  {
    Gallery g = Gallery::create(tmp / "g", model, cfivf(16, "nprobe=3,rerank=12"));
    g.enroll(model, pop.enrollments);
    before = search_all(g, queries, 5);
  }
  const std::string saved = file_bytes(tmp / "g" / kGalleryIndexName);
  ASSERT_FALSE(saved.empty());
  Gallery g = Gallery::open(tmp / "g", GalleryMode::read);
  EXPECT_EQ(g.index_description(), "CFIVF16");
  EXPECT_EQ(g.options().search_params, "nprobe=3,rerank=12");
  const auto after = search_all(g, queries, 5);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t q = 0; q < after.size(); ++q) {
    ASSERT_EQ(after[q].size(), before[q].size());
    for (std::size_t j = 0; j < after[q].size(); ++j) {
      EXPECT_EQ(after[q][j].face_id, before[q][j].face_id);
      EXPECT_EQ(after[q][j].cosine, before[q][j].cosine);
    }
  }
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(file_bytes(tmp / "g" / kGalleryIndexName), saved);  // loaded, not rebuilt

  // The same through VectorIndex directly: the trained lists come back as they were.
  std::string why;
  auto loaded = VectorIndex::load(tmp / "g" / kGalleryIndexName, kSmallDim, &why);
  ASSERT_TRUE(loaded) << why;
  EXPECT_EQ(loaded->size(), 2000);
  EXPECT_EQ(loaded->description(), "CFIVF16");
  EXPECT_FALSE(loaded->fallback());
}

TEST(Int8IvfGallery, TruncatedOrDamagedIndexFileIsRebuilt) {
  TempDir tmp;
  Population pop(400, 5, kSmallDim);
  const EmbedderInfo model = synthetic_model(kSmallDim);
  const fs::path dir = tmp / "g";
  const fs::path index_file = dir / kGalleryIndexName;
  std::vector<std::int64_t> ids;
  {
    Gallery g = Gallery::create(dir, model, cfivf(16));
    ids = g.enroll(model, pop.enrollments);
  }
  const std::string good = file_bytes(index_file);
  auto expect_rebuilt = [&](const std::string& damaged, const std::string& reason) {
    SCOPED_TRACE(reason);
    write_bytes(index_file, damaged);
    std::string why;
    EXPECT_FALSE(VectorIndex::load(index_file, kSmallDim, &why));
    EXPECT_NE(why.find(reason), std::string::npos) << why;
    Gallery g = Gallery::open(dir);
    EXPECT_TRUE(g.check_integrity().ok);
    EXPECT_EQ(g.check_integrity().indexed, 2000u);
    EXPECT_EQ(g.index_description(), "CFIVF16");
    EXPECT_EQ(recall_at_1(g, pop, ids, 50), 1.0);
    EXPECT_NE(file_bytes(index_file), damaged);  // rewritten
    EXPECT_TRUE(VectorIndex::load(index_file, kSmallDim, &why)) << why;
  };
  expect_rebuilt(good.substr(0, good.size() / 2), "truncated");
  expect_rebuilt(good.substr(0, good.size() - 3), "truncated");
  std::string flipped = good;
  flipped[flipped.size() * 3 / 4] ^= 0x40;  // inside a list's vectors
  expect_rebuilt(flipped, "checksum");
  expect_rebuilt(good + "x", "trailing");
  // The stamp says int8 IVF, the rest is junk.
  const std::size_t body = good.find('\n', good.find('\n') + 1) + 1;
  expect_rebuilt(good.substr(0, body) + std::string(5000, '\x7f'), "not a clipface int8 IVF");
}

TEST(Int8IvfGallery, BadFactoryOrParametersAreRefusedAndChangeNothing) {
  TempDir tmp;
  const EmbedderInfo model = synthetic_model(kDim);
  for (const std::string factory :
       {"CFIVF", "CFIVF0", "CFIVF-4", "CFIVFx", "CFIVF16,Flat", "CFIVF99999999", "CFIVF 16"}) {
    SCOPED_TRACE(factory);
    GalleryOptions options;
    options.index_factory = factory;
    try {
      Gallery::create(tmp / "bad", model, options);
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("CFIVF<lists>"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(tmp / "bad" / kGalleryDbName));
  }
  for (const std::string params :
       {"nprobe=0", "nprobe=17", "nprobe=abc", "rerank=0", "rerank=", "k_factor_rf=4", "nprobe"}) {
    SCOPED_TRACE(params);
    try {
      Gallery::create(tmp / "bad", model, cfivf(16, params));
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("nprobe=<1..16>"), std::string::npos) << e.what();
    }
  }

  // On an existing gallery: a bad switch or bad parameters leave index, settings and answers.
  Population pop(200, 5, kDim);
  Gallery g = Gallery::create(tmp / "g", model, cfivf(16, "nprobe=4"));
  g.enroll(model, pop.enrollments);
  const Matrix queries = queries_of(pop, 20);
  const auto before = search_all(g, queries, 3);
  const std::int64_t generation = g.generation();
  const std::string file = file_bytes(tmp / "g" / kGalleryIndexName);
  EXPECT_THROW(g.reindex(GalleryOptions{"CFIVF16x", ""}), InputError);
  EXPECT_THROW(g.reindex(GalleryOptions{"CFIVF16", "nprobe=99"}), InputError);
  EXPECT_THROW(g.set_search_params("rerank=-1"), InputError);
  EXPECT_THROW(g.set_search_params("nprobe=2,bogus=1"), InputError);
  EXPECT_EQ(g.index_description(), "CFIVF16");
  EXPECT_EQ(g.options().index_factory, "CFIVF16");
  EXPECT_EQ(g.options().search_params, "nprobe=4");
  EXPECT_EQ(g.generation(), generation);
  EXPECT_EQ(file_bytes(tmp / "g" / kGalleryIndexName), file);
  const auto after = search_all(g, queries, 3);
  for (std::size_t q = 0; q < after.size(); ++q) {
    ASSERT_EQ(after[q].size(), before[q].size());
    for (std::size_t j = 0; j < after[q].size(); ++j) {
      EXPECT_EQ(after[q][j].face_id, before[q][j].face_id);
    }
  }
  Gallery reopened = Gallery::open(tmp / "g", GalleryMode::read);
  EXPECT_EQ(reopened.options().index_factory, "CFIVF16");
  EXPECT_EQ(reopened.options().search_params, "nprobe=4");
}

TEST(Int8IvfGallery, RemovedPersonIsNeverReturned) {
  TempDir tmp;
  Population pop(200, 5, kDim);
  const EmbedderInfo model = synthetic_model(kDim);
  const fs::path dir = tmp / "g";
  Gallery g = Gallery::create(dir, model, cfivf(16));
  g.enroll(model, pop.enrollments);
  const std::vector<float> removed_vector = pop.enrollments[35].embedding;  // person7's
  ASSERT_EQ(pop.enrollments[35].person, "person7");
  EXPECT_EQ(g.remove_person("person7"), 5);
  EXPECT_EQ(g.index_description(), "CFIVF16");  // removed in place, still trained
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(g.check_integrity().indexed, 995u);
  auto never_person7 = [&](const Gallery& gallery) {
    for (int q = 0; q < 20; ++q) {
      const auto results = gallery.search(as_matrix({pop.new_photo("person7")}), 50);
      for (const auto& n : results[0]) EXPECT_NE(n.person, "person7");
    }
    const auto exact_copy = gallery.search(as_matrix({removed_vector}), 1)[0];
    ASSERT_FALSE(exact_copy.empty());
    EXPECT_LT(exact_copy[0].cosine, 0.99f);
  };
  never_person7(g);
  // Nothing of theirs stays in the saved index (nor, as before, in the database).
  const std::string index_bytes = file_bytes(dir / kGalleryIndexName);
  EXPECT_EQ(std::search(index_bytes.begin(), index_bytes.end(),
                        reinterpret_cast<const char*>(removed_vector.data()),
                        reinterpret_cast<const char*>(removed_vector.data() + kDim)),
            index_bytes.end());
  Gallery reopened = Gallery::open(dir, GalleryMode::read);
  EXPECT_EQ(reopened.check_integrity().indexed, 995u);
  never_person7(reopened);
}

// The in-place removal the gallery relies on: the int8 IVF drops ids from its lists; FAISS
// indexes say they cannot (the gallery rebuilds them instead).
TEST(Int8IvfIndex, RemovesIdsInPlace) {
  Population pop(30, 5, kDim);
  const auto [data, ids] = flatten(pop, 3, 0);
  const auto n = static_cast<std::int64_t>(ids.size());
  auto ivf = VectorIndex::build(kDim, "CFIVF2", "", n, ids.data(), data.data());
  ASSERT_FALSE(ivf->fallback());
  EXPECT_TRUE(ivf->remove({ids[0], ids[7], 1}));  // 1 is no id: ignored
  EXPECT_EQ(ivf->size(), n - 2);
  auto left = ivf->ids();
  std::sort(left.begin(), left.end());
  std::vector<std::int64_t> expected(ids.begin() + 1, ids.end());
  expected.erase(expected.begin() + 6);
  EXPECT_EQ(left, expected);
  auto flat = VectorIndex::build(kDim, "Flat", "", n, ids.data(), data.data());
  EXPECT_FALSE(flat->remove({ids[0]}));
  EXPECT_EQ(flat->size(), n);
}

// Everything the index learnt comes back from its file: settings, scales, the whitened routing
// space, centroids and lists (the same answers to the same queries).
TEST(Int8IvfIndex, FileRoundTripKeepsEverything) {
  Population pop(400, 5, kSmallDim);
  const auto [data, ids] = flatten(pop, 1, 7);
  const auto n = static_cast<std::int64_t>(ids.size());
  Int8IvfIndex index(kSmallDim, 16);
  index.train(n, data.data());
  index.add_with_ids(n, data.data(), ids.data());
  index.set_search_params("nprobe=2,rerank=9");
  ASSERT_TRUE(index.routing.whitened());
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  gallery_detail::write_int8_ivf(index, file);
  std::rewind(file);
  const auto loaded = gallery_detail::read_int8_ivf(file, kSmallDim);
  std::fclose(file);
  EXPECT_EQ(loaded->ntotal, n);
  EXPECT_EQ(loaded->nprobe, 2);
  EXPECT_EQ(loaded->rerank, 9);
  EXPECT_TRUE(loaded->routing.whitened());
  EXPECT_EQ(loaded->routing.matrix(), index.routing.matrix());
  EXPECT_EQ(loaded->codec.scales(), index.codec.scales());
  const Matrix queries = queries_of(pop, 30);
  std::vector<float> a(30 * 4), b(30 * 4);
  std::vector<std::int64_t> la(30 * 4), lb(30 * 4);
  index.search(30, queries.data.data(), 4, a.data(), la.data());
  loaded->search(30, queries.data.data(), 4, b.data(), lb.data());
  EXPECT_EQ(la, lb);
  EXPECT_EQ(a, b);
}

// Enrolling into a trained index adds to its lists (no re-training); a gallery too small to
// train searches exactly until it has enough faces, then trains.
TEST(Int8IvfGallery, IncrementalEnrollmentAndTrainingOnceThereIsEnough) {
  TempDir tmp;
  Population pop(200, 5, kDim);
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model, cfivf(16));  // trains from 16 * 16 = 256 faces
  const std::vector<Enrollment> first(pop.enrollments.begin(), pop.enrollments.begin() + 200);
  const std::vector<Enrollment> second(pop.enrollments.begin() + 200,
                                       pop.enrollments.begin() + 600);
  const std::vector<Enrollment> third(pop.enrollments.begin() + 600, pop.enrollments.end());
  auto ids = g.enroll(model, first);
  EXPECT_NE(g.index_description().find("exact"), std::string::npos) << g.index_description();
  for (const auto* batch : {&second, &third}) {
    const auto more = g.enroll(model, *batch);
    ids.insert(ids.end(), more.begin(), more.end());
    EXPECT_EQ(g.index_description(), "CFIVF16");
  }
  EXPECT_EQ(recall_at_1(g, pop, ids, 200), 1.0);
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(g.check_integrity().indexed, 1000u);
}

// People enrolled after the index was trained did not shape its lists; they are searched in full
// (the recent vectors) until the gallery re-trains, so they are found as surely as the others,
// even with few lists probed.
TEST(Int8IvfGallery, PeopleEnrolledAfterTrainingAreFound) {
  TempDir tmp;
  const FaceSpace space(kDim);
  Population early(900, 10, space);
  Population late(100, 5, space);
  for (auto& e : late.enrollments) e.person = "late-" + e.person, e.image_sha256 += "-late";
  const EmbedderInfo model = synthetic_model(kDim);
  Gallery g = Gallery::create(tmp / "g", model, cfivf(128, "nprobe=2"));
  auto ids = g.enroll(model, early.enrollments);
  ASSERT_EQ(g.index_description(), "CFIVF128");  // trained on the early people
  const auto late_ids = g.enroll(model, late.enrollments);
  std::vector<Enrollment> all = early.enrollments;
  all.insert(all.end(), late.enrollments.begin(), late.enrollments.end());
  ids.insert(ids.end(), late_ids.begin(), late_ids.end());
  int found = 0;
  for (int q = 0; q < 100; ++q) {
    const auto query = late.new_photo("person" + std::to_string(q));
    const auto result = g.search(as_matrix({query}), 1)[0];
    found += !result.empty() && result[0].face_id == ids[testing::brute_force_nearest(all, query)];
  }
  EXPECT_EQ(found, 100);
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(g.check_integrity().indexed, 9500u);
}

// The recent vectors have a limit (4096 here); past it the gallery rebuilds with training.
TEST(Int8IvfIndex, AsksForTrainingWhenManyWereEnrolledSince) {
  Population pop(1000, 6, kSmallDim);
  const auto [data, ids] = flatten(pop, 1, 0);
  auto index = VectorIndex::build(kSmallDim, "CFIVF16", "", 1000, ids.data(), data.data());
  EXPECT_FALSE(index->needs_training(0));
  index->add(4096, ids.data() + 1000, data.data() + 1000 * kSmallDim);
  EXPECT_EQ(index->size(), 5096);
  EXPECT_FALSE(index->needs_training(0));
  EXPECT_TRUE(index->needs_training(1));
  // A rebuild that keeps the training keeps the recent vectors recent.
  index->replace_all(5096, ids.data(), data.data());
  EXPECT_TRUE(index->needs_training(1));
  auto fallback = VectorIndex::build(kSmallDim, "CFIVF16", "", 100, ids.data(), data.data());
  EXPECT_TRUE(fallback->fallback());
  EXPECT_FALSE(fallback->needs_training(155));
  EXPECT_TRUE(fallback->needs_training(156));  // 16 per list
}

}  // namespace
}  // namespace clipface
