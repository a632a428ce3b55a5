// Stored calibrations of the Unknown threshold and the one vote rule every consumer starts from.
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/face_rows.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface {
using gallery_detail::Transaction;

namespace {

std::optional<GalleryCalibration> latest(const Gallery::Impl& g) {
  if (!gallery_detail::has_labels_schema(g)) return std::nullopt;
  auto stmt = g.db->prepare(
      "SELECT id, created, target_far, k1, k2, threshold, far, far_upper, frr, genuine, "
      "impostors, generation, report FROM calibrations WHERE model_name = ? AND "
      "model_checksum = ? AND crop_style = ? ORDER BY id DESC LIMIT 1");
  stmt.bind(1, g.model.name).bind(2, g.model.checksum).bind(3, g.model.crop_style);
  if (!stmt.step()) return std::nullopt;
  GalleryCalibration c;
  c.id = stmt.int64(0);
  c.created = stmt.text(1);
  c.model = g.model;
  c.target_far = stmt.real(2);
  c.k1 = static_cast<int>(stmt.int64(3));
  c.k2 = static_cast<int>(stmt.int64(4));
  c.threshold = static_cast<float>(stmt.real(5));
  c.far = stmt.real(6);
  c.far_upper = stmt.real(7);
  c.frr = stmt.real(8);
  c.genuine = stmt.int64(9);
  c.impostors = stmt.int64(10);
  c.generation = stmt.int64(11);
  c.report_json = stmt.text(12);
  auto people = g.db->prepare(
      "SELECT p.name, t.threshold, t.reason FROM person_thresholds t JOIN people p ON p.id = "
      "t.person_id WHERE t.calibration_id = ? ORDER BY p.name");
  people.bind(1, c.id);
  while (people.step()) {
    c.people.push_back({people.text(0), static_cast<float>(people.real(1)), people.text(2)});
  }
  return c;
}

}  // namespace

std::optional<GalleryCalibration> Gallery::calibration() const {
  std::lock_guard lock(impl_->mutex);
  return latest(*impl_);
}

std::int64_t Gallery::store_calibration(const GalleryCalibration& c) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (c.model.name != g.model.name || c.model.checksum != g.model.checksum ||
      c.model.crop_style != g.model.crop_style) {
    throw InputError("calibration measured with " + gallery_detail::describe_model(c.model) +
                     ", gallery " + g.dir.string() + " holds " +
                     gallery_detail::describe_model(g.model));
  }
  Transaction txn(*g.db, Transaction::Kind::write);
  g.db->prepare(
          "INSERT INTO calibrations(model_name, model_checksum, crop_style, target_far, k1, k2, "
          "threshold, far, far_upper, frr, genuine, impostors, generation, report) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, g.model.name)
      .bind(2, g.model.checksum)
      .bind(3, g.model.crop_style)
      .bind(4, c.target_far)
      .bind(5, c.k1)
      .bind(6, c.k2)
      .bind(7, static_cast<double>(c.threshold))
      .bind(8, c.far)
      .bind(9, c.far_upper)
      .bind(10, c.frr)
      .bind(11, c.genuine)
      .bind(12, c.impostors)
      .bind(13, c.generation)
      .bind(14, c.report_json)
      .run();
  const std::int64_t id = g.db->last_insert_id();
  auto find = g.db->prepare("SELECT id FROM people WHERE name = ?");
  auto put = g.db->prepare(
      "INSERT INTO person_thresholds(calibration_id, person_id, threshold, reason) "
      "VALUES (?, ?, ?, ?)");
  for (const PersonThreshold& p : c.people) {
    find.reset();
    find.bind(1, p.person);
    if (!find.step()) throw InputError("calibration: no person named '" + p.person + "'");
    put.reset();
    put.bind(1, id).bind(2, find.int64(0)).bind(3, static_cast<double>(p.threshold));
    put.bind(4, p.reason).run();
  }
  txn.commit();
  return id;
}

KnnVote Gallery::vote_rule() const {
  std::lock_guard lock(impl_->mutex);
  const auto c = latest(*impl_);
  if (!c) return default_vote(impl_->model);
  KnnVote rule{c->k1, c->k2, c->threshold, {}};
  for (const PersonThreshold& p : c->people) rule.person_thresholds[p.person] = p.threshold;
  return rule;
}

}  // namespace clipface
