// A gallery's faces as calibration data, the result as the gallery stores it, and its plots.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "clipface/calibration.hpp"
#include "clipface/errors.hpp"
#include "clipface/report.hpp"

namespace clipface {
namespace {

void append_row(Matrix& m, std::span<const float> row) {
  if (m.rows == 0) m.cols = row.size();
  m.data.insert(m.data.end(), row.begin(), row.end());
  ++m.rows;
}

}  // namespace

CalibrationData calibration_data(const Gallery& gallery, bool use_unlabelled) {
  CalibrationData d;
  const FaceVectors labelled = gallery.face_vectors(FaceSet::labelled);
  d.labelled = labelled.vectors;
  std::map<std::int64_t, std::size_t> labelled_row;
  for (std::size_t i = 0; i < labelled.faces.size(); ++i) {
    const auto& f = labelled.faces[i];
    d.people.push_back(f.person);
    d.images.push_back(f.image_sha256);
    d.face_ids.push_back(f.face_id);
    labelled_row[f.face_id] = i;
  }
  d.strangers.cols = d.labelled.cols = static_cast<std::size_t>(gallery.model().dim);
  d.negatives.cols = d.labelled.cols;
  std::set<std::int64_t> proposed;
  for (const auto& c : gallery.clusters()) {
    if (!c.proposed.empty()) proposed.insert(c.id);
  }
  const FaceVectors unlabelled = gallery.face_vectors(FaceSet::unlabelled);
  std::map<std::int64_t, std::size_t> unlabelled_row;
  for (std::size_t i = 0; i < unlabelled.faces.size(); ++i) {
    const auto& f = unlabelled.faces[i];
    unlabelled_row[f.face_id] = i;
    if (f.stranger) {
      append_row(d.strangers, unlabelled.vectors.row(i));
      d.stranger_sources.push_back("known strangers");
    } else if (use_unlabelled && !proposed.count(f.cluster)) {
      append_row(d.strangers, unlabelled.vectors.row(i));
      d.stranger_sources.push_back("unlabelled faces");
    }
  }
  for (const Negative& n : gallery.negatives()) {
    if (const auto it = labelled_row.find(n.face_id); it != labelled_row.end()) {
      append_row(d.negatives, labelled.vectors.row(it->second));
    } else if (const auto jt = unlabelled_row.find(n.face_id); jt != unlabelled_row.end()) {
      append_row(d.negatives, unlabelled.vectors.row(jt->second));
    } else {
      continue;
    }
    d.negative_people.push_back(n.person);
    d.negative_face_ids.push_back(n.face_id);
  }
  return d;
}

CalibrationResult calibrate_gallery(const Gallery& gallery, const CalibrationOptions& options,
                                    bool use_unlabelled) {
  const CalibrationData data = calibration_data(gallery, use_unlabelled);
  try {
    return calibrate(data, options, default_vote(gallery.model()));
  } catch (const InputError& e) {
    throw InputError("gallery " + gallery.dir().string() + ": " + e.what());
  }
}

GalleryCalibration to_stored(const CalibrationResult& r, const Gallery& gallery) {
  GalleryCalibration c;
  c.model = gallery.model();
  c.target_far = r.target_far;
  c.k1 = r.rule.k1;
  c.k2 = r.rule.k2;
  c.threshold = r.rule.threshold;
  c.far = r.far;
  c.far_upper = r.far_upper;
  c.frr = r.frr;
  c.genuine = static_cast<std::int64_t>(r.genuine);
  c.impostors = static_cast<std::int64_t>(r.impostors);
  c.generation = gallery.generation();
  c.people = r.people;
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& [source, n] : r.impostor_sources) sources[source] = n;
  c.report_json =
      nlohmann::json{{"impostor_sources", sources}, {"labelled_faces", gallery.labelled_size()}}
          .dump();
  return c;
}

void draw_calibration(const CalibrationResult& r, const std::filesystem::path& curves_png,
                      const std::filesystem::path& distances_png) {
  report::Series far{"FAR (strangers named)", {}, {}}, frr{"FRR (people not named)", {}, {}};
  for (const auto& p : r.curve) {
    far.x.push_back(p.threshold), far.y.push_back(p.far);
    if (r.genuine) frr.x.push_back(p.threshold), frr.y.push_back(p.frr);
  }
  const double t = r.rule.threshold;
  char label[96];
  std::snprintf(label, sizeof label, "chosen %.3f: FAR %.4f, FRR %.3f", t, r.far,
                std::max(0.0, r.frr));
  report::Series chosen{label, {t, t}, {0.0, 1.0}};
  report::Series target{
      "target FAR", {0.0, far.x.empty() ? 1.0 : far.x.back()}, {r.target_far, r.target_far}};
  report::LinePlot curves;
  curves.title = "Calibrated Unknown threshold";
  curves.x_label = "threshold (L2 distance, unit vectors)";
  curves.y_label = "rate";
  curves.series = {far};
  if (r.genuine) curves.series.push_back(frr);
  curves.series.push_back(target);
  curves.series.push_back(chosen);
  report::draw(curves, curves_png);

  // Nearest-neighbour distances: a genuine probe's nearest own photo, an impostor's nearest face.
  const auto histogram = [](const std::vector<float>& v, const std::string& name) {
    report::Series s{name, {}, {}};
    constexpr int kBins = 40;
    std::vector<double> count(kBins, 0);
    for (float d : v) count[std::clamp(int(d / 2.0f * kBins), 0, kBins - 1)] += 1;
    for (int b = 0; b < kBins; ++b) {
      s.x.push_back((b + 0.5) * 2.0 / kBins);
      s.y.push_back(v.empty() ? 0 : count[b] / double(v.size()));
    }
    return s;
  };
  report::LinePlot distances;
  distances.title = "Distance to the nearest gallery face";
  distances.x_label = "L2 distance";
  distances.y_label = "share of probes";
  distances.series = {histogram(r.impostor_distances, "impostor probes")};
  if (!r.genuine_distances.empty()) {
    distances.series.push_back(histogram(r.genuine_distances, "genuine probes (own photos)"));
  }
  report::Series line{"chosen threshold", {t, t}, {0.0, 0.5}};
  distances.series.push_back(line);
  report::draw(distances, distances_png);
}

}  // namespace clipface
