// Thresholds from data: the Unknown threshold of the k1/k2 vote set for a target false-accept
// rate, measured on the gallery's own faces (`clipface calibrate`).
//
// Probes (each one face searched against the gallery, voted on as identify votes):
//   genuine  = a labelled face against the gallery without it (and without the other faces of
//              its photo): leave-one-out. Named correctly = accepted.
//   impostor = a labelled face against the gallery without every face of its person
//              (leave-one-person-out), a known stranger, or an unlabelled face that is not in a
//              cluster proposed as someone (cluster first, so that faces of enrolled people are
//              proposed as them and left out; those that remain can only make the threshold
//              stricter). Given any name = a false accept.
//   FAR(t) = impostor probes given a name / impostor probes (NIST's FPIR)
//   FRR(t) = genuine probes not given their own name / genuine probes (NIST's FNIR)
// The threshold is the largest one at which FAR stays at or below the target (midway to the next
// event below, for margin); FAR's 95% upper confidence bound (Clopper-Pearson) is reported with
// it. A gallery needs at least ceil(1 / target FAR) impostor probes to say anything.
//
// Per-person thresholds (among 10 or more people with 3 or more photos), for people whose photos
// are unusually varied (the median distance between them in the top tenth of the gallery's people
// and a quarter above the typical one: looser, as long as FAR stays within the target) or
// unusually alike (bottom tenth, a quarter below: tighter, as long as none of their own photos is
// lost), and for people a negative example ("this face is not X") would be mistaken for (tighter
// until it no longer is).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "clipface/classify.hpp"
#include "clipface/gallery.hpp"
#include "clipface/matrix.hpp"

namespace clipface {

struct CalibrationData {
  Matrix labelled;                  // the gallery's labelled faces, unit rows
  std::vector<std::string> people;  // per row
  std::vector<std::string> images;  // per row: source image (faces of one photo exclude each other)
  std::vector<std::int64_t> face_ids;         // per row, for messages (may be empty)
  Matrix strangers;                           // impostor probes from outside the gallery
  std::vector<std::string> stranger_sources;  // per row: "known stranger", "unlabelled", ...
  Matrix negatives;                           // faces known not to be someone
  std::vector<std::string> negative_people;   // per row: who they are not
  std::vector<std::int64_t> negative_face_ids;
};

struct CalibrationOptions {
  double target_far = 0.001;
  int k1 = 0, k2 = 0;  // 0 = the base rule's
  bool per_person = true;
  std::size_t max_probes = 20000;  // per kind, seeded sample beyond that
  std::uint64_t seed = 0;
};

struct CalibrationCurvePoint {
  float threshold = 0;
  double far = 0, frr = 0;
};

struct CalibrationResult {
  KnnVote rule;  // k1, k2, threshold, person_thresholds
  double target_far = 0;
  double far = 0, far_upper = 0;
  double frr = 0;  // -1 when no genuine probe could be made (one face per person)
  std::size_t genuine = 0, impostors = 0;
  std::map<std::string, std::size_t> impostor_sources;  // source -> probes
  std::vector<PersonThreshold> people;
  std::vector<CalibrationCurvePoint> curve;  // the global threshold swept
  std::vector<float> genuine_distances;      // nearest own-person distance per genuine probe
  std::vector<float> impostor_distances;     // nearest distance per impostor probe
};

// The fewest impostor probes that can measure `far` (ceil(1 / far)).
std::size_t impostors_needed(double far);

// InputError when there are too few impostor probes for the target (the message says how many
// faces are needed and the smallest FAR this data can measure) or the options are unusable.
CalibrationResult calibrate(const CalibrationData& data, const CalibrationOptions& options,
                            const KnnVote& base);

// The gallery's labelled faces, known strangers, unlabelled faces outside proposed clusters and
// negative examples, calibrated from the gallery's default vote (default_vote(model)).
CalibrationData calibration_data(const Gallery& gallery, bool use_unlabelled = true);
CalibrationResult calibrate_gallery(const Gallery& gallery, const CalibrationOptions& options,
                                    bool use_unlabelled = true);
// As the gallery stores it (Gallery::store_calibration), stamped with its model and generation.
GalleryCalibration to_stored(const CalibrationResult& result, const Gallery& gallery);

// FAR and FRR against the threshold, with the chosen point marked; and their distance
// distributions (genuine vs impostor). InputError naming a file that cannot be written.
void draw_calibration(const CalibrationResult& result, const std::filesystem::path& curves_png,
                      const std::filesystem::path& distances_png);

// FAR and FRR of a rule on probes that took no part in calibrating it: `probes` rows searched
// against `gallery.labelled`, truth = the enrolled person, or "" for someone never enrolled.
struct RateAt {
  double far = 0, frr = 0;
  std::size_t genuine = 0, impostors = 0;
};
RateAt held_out_rates(const CalibrationData& gallery, const Matrix& probes,
                      const std::vector<std::string>& truth, const KnnVote& rule);

}  // namespace clipface
