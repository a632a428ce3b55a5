// Immutable snapshots of a gallery for searches in parallel with writes: the index as it is (shared
// until a writer changes it, see Impl::own_index) and the names of its faces read in the same
// state, both tied to the generation they were made at.
#include <algorithm>
#include <unordered_map>

#include "clipface/errors.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface {
using gallery_detail::Transaction;
using gallery_detail::VectorIndex;

struct GallerySnapshot::Data {
  std::shared_ptr<const VectorIndex> index;
  std::unordered_map<std::int64_t, std::uint32_t> person_of;  // face id -> index into names
  std::vector<std::string> names;
  EmbedderInfo model;
  std::int64_t generation = 0;
  // What the snapshot was made from, to tell whether it is still current.
  std::int64_t data_version = 0;
  std::int64_t local_changes = 0;
  std::int64_t labels_generation = 0;  // names, merges, faces named or unnamed (schema 2)
};

GallerySnapshot::GallerySnapshot(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
GallerySnapshot::~GallerySnapshot() = default;

std::size_t GallerySnapshot::size() const {
  return data_->person_of.size();
}
std::size_t GallerySnapshot::people() const {
  return data_->names.size();
}
std::int64_t GallerySnapshot::generation() const {
  return data_->generation;
}
const EmbedderInfo& GallerySnapshot::model() const {
  return data_->model;
}

std::vector<std::vector<Neighbor>> GallerySnapshot::search(const Matrix& queries, int k) const {
  const Data& d = *data_;
  if (queries.rows > 0 && queries.cols != static_cast<std::size_t>(d.model.dim)) {
    throw InputError("queries have " + std::to_string(queries.cols) +
                     " values per row, the gallery holds " + std::to_string(d.model.dim) +
                     "-d embeddings");
  }
  if (k < 1) throw InputError("search needs k >= 1");
  std::vector<std::vector<Neighbor>> result(queries.rows);
  const std::int64_t total = d.index->size();
  if (queries.rows == 0 || total == 0) return result;
  const int kk = static_cast<int>(std::min<std::int64_t>(k, total));
  std::vector<float> scores(queries.rows * kk);
  std::vector<std::int64_t> ids(queries.rows * kk);
  d.index->search(static_cast<std::int64_t>(queries.rows), queries.data.data(), kk, scores.data(),
                  ids.data());
  for (std::size_t q = 0; q < queries.rows; ++q) {
    auto& list = result[q];
    list.reserve(kk);
    for (int j = 0; j < kk; ++j) {
      const auto named = d.person_of.find(ids[q * kk + j]);
      if (named == d.person_of.end()) continue;  // -1 (fewer hits than k)
      const float cosine = std::clamp(scores[q * kk + j], -1.0f, 1.0f);
      list.push_back(
          Neighbor{named->first, d.names[named->second], cosine, l2_from_cosine(cosine)});
    }
  }
  return result;
}

std::shared_ptr<const GallerySnapshot> Gallery::snapshot() const {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  const std::int64_t data_version = g.data_version();
  const std::int64_t labels_generation = g.read_labels_generation();
  if (g.last_snapshot) {
    const GallerySnapshot::Data& last = *g.last_snapshot->data_;
    if (last.data_version == data_version && last.local_changes == g.local_changes &&
        last.labels_generation == labels_generation && last.generation == g.index_generation) {
      return g.last_snapshot;
    }
  }
  auto data = std::make_shared<GallerySnapshot::Data>();
  data->model = g.model;
  data->data_version = data_version;
  data->local_changes = g.local_changes;
  data->labels_generation = labels_generation;
  // The names must describe the index's state: read them in one transaction with the generation,
  // and catch up with the index when another process committed in between.
  for (;;) {
    g.ensure_index();
    Transaction read(*g.db, Transaction::Kind::read);
    if (g.read_generation() != g.index_generation) continue;
    std::unordered_map<std::int64_t, std::uint32_t> slot_of_person;
    auto people = g.db->prepare("SELECT id, name FROM people ORDER BY name");
    while (people.step()) {
      slot_of_person.emplace(people.int64(0), static_cast<std::uint32_t>(data->names.size()));
      data->names.push_back(people.text(1));
    }
    // The index serves labelled faces only (unlabelled ones wait for a name).
    auto faces = g.db->prepare("SELECT id, person_id FROM faces WHERE person_id IS NOT NULL");
    data->person_of.reserve(static_cast<std::size_t>(g.index->size()));
    while (faces.step()) data->person_of.emplace(faces.int64(0), slot_of_person.at(faces.int64(1)));
    read.commit();
    break;
  }
  data->index = g.index;
  data->generation = g.index_generation;
  g.last_snapshot = std::make_shared<const GallerySnapshot>(std::move(data));
  return g.last_snapshot;
}

}  // namespace clipface
