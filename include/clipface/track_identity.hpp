// Who a track is: identities that outlive the tracker's tracks, and their labels from all of
// their embedded faces rather than from any single frame.
//
//  - IdentityLinker gives each confirmed tracker track an identity from its first embedding:
//    the identity of a person who left (or was hidden) less than link_seconds ago when the faces
//    match, else a new one. So a person who leaves and comes back keeps one track id.
//  - LabelVote turns the gallery decisions of a track's embedded faces into one label: each
//    decision votes with a weight for the face (its size, and how frontal it is: a face half
//    behind a pillar or turned away embeds poorly) and for its margin from the Unknown threshold
//    (a face of 30 px at distance 0.34 of a 0.35 threshold is weak evidence; a frontal one of
//    120 px at 0.20 is strong). Not matching anyone is weaker evidence than matching someone (a
//    known face fails to match on a bad frame far more often than a stranger matches), so
//    Unknown votes count half. The label stays "pending" until a few faces agree with enough
//    weight, ties are refused, and a decided name only changes when the evidence against it is
//    several times stronger, with old evidence slowly forgotten. Labels therefore do not flicker
//    from frame to frame.
//  - StrangerRegistry names decided strangers unknown-1, unknown-2 ... for the run, the same
//    number again when the same face comes back, so distinct unknown visitors can be counted.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clipface/classify.hpp"

namespace clipface {

inline const std::string kPending = "pending";

struct IdentityOptions {
  int min_evidence = 3;     // faces agreeing on a label before a track gets it
  float min_weight = 0.3f;  // ... with at least this weight (one or two good frontal faces)
  // A first label, or a name replacing Unknown, needs this many times the runner-up's weight.
  float decide_ratio = 2.0f;
  float switch_ratio = 3.0f;    // a name changes only against this many times its weight
  int switch_evidence = 3;      // ... and with at least this many faces for the new label
  float memory = 0.97f;         // each new face multiplies older weights by this (half-life ~23)
  float full_side = 80;         // face side (pixels) from which a face weighs fully
  float unknown_weight = 0.5f;  // an Unknown vote counts this much of a match of the same margin
  double link_seconds = 5;      // how long an unseen identity can be taken over by a new track
  float link_threshold = -1;    // largest L2 distance between faces that links; < 0 = the vote's
  float link_margin = 0.02f;    // the best candidate's cosine must beat the next one's by this
  bool unknown_ids = true;      // decided strangers become unknown-N (false: "Unknown")
};

// How much a face counts, before its decision's margin: its size (full from full_side) times
// its pose (frontal 0..1, as TrackFaceQuality measures it): 0.25 + 0.75 frontal, so 1 for a frontal
// face and a quarter for a profile or a face half hidden (whose landmarks read as a profile).
float face_evidence(float side, float frontal, const IdentityOptions& options);

// The label of one track from its embedded faces' decisions.
class LabelVote {
 public:
  LabelVote(float threshold, const IdentityOptions& options);

  // Adds a face (face_evidence() of it); true when the label changed (pending -> X, X -> Y).
  bool add(const Decision& decision, float face_weight);

  const std::string& label() const { return label_; }  // kPending, a person, or kUnknown
  bool decided() const { return label_ != kPending; }
  // Weighted mean cosine of the faces that voted for the label (known: to the person's nearest
  // voting neighbour; Unknown: to the nearest stranger); 0 while pending.
  float score() const;
  float best_score() const;             // highest cosine among the label's faces
  int faces() const { return faces_; }  // faces added
  int faces_for(const std::string& label) const;

  // The weight a decision carries (0 for a tie, which is no evidence either way).
  float weight(const Decision& decision, float face_weight) const;

 private:
  struct Tally {
    float weight = 0;
    float weighted_cosine = 0;
    float best_cosine = 0;
    int faces = 0;
  };
  float threshold_;
  IdentityOptions options_;
  std::map<std::string, Tally> tallies_;
  std::string label_ = kPending;
  int faces_ = 0;
};

// Identities for the tracker tracks of one source.
class IdentityLinker {
 public:
  // `link_threshold` is an L2 distance between unit embeddings.
  IdentityLinker(float link_threshold, double link_seconds, float link_margin = 0.02f);

  struct Assignment {
    std::int64_t identity = 0;
    bool linked = false;  // took over an identity that was not seen for a while
    float cosine = 0;     // with that identity's faces (linked only)
  };
  // The identity of tracker track `track` (nullopt until assign()).
  std::optional<std::int64_t> identity_of(std::int64_t track) const;
  // Gives `track` an identity from an embedding of its face at `time`: the best-matching identity
  // that is not on screen (its track lost or removed) and was last seen at most link_seconds
  // ago, if the match is within the threshold and unambiguous; else a new identity (ids from 1).
  // `good`: the face is frontal and whole (see add_face); the caller should offer one when it
  // can, since a face half hidden or turned away embeds closer to everyone's.
  Assignment assign(std::int64_t track, std::span<const float> embedding, double time,
                    bool good = true);
  // Another face of the identity, kept for matching (the last few good ones; other faces only
  // while it has no good one).
  void add_face(std::int64_t identity, std::span<const float> embedding, bool good = true);
  // The track was matched in a frame at `time` / is not on screen / was removed by the tracker.
  void seen(std::int64_t track, double time);
  void unseen(std::int64_t track);
  // Identities off screen for longer than link_seconds at `time`, ended now (each once).
  std::vector<std::int64_t> expire(double time);
  // Every identity still open, ended now (the source ended).
  std::vector<std::int64_t> end_all();

 private:
  struct Identity {
    std::int64_t track = -1;  // tracker track showing it, -1 when none
    bool on_screen = false;
    double last_seen = 0;
    std::vector<std::vector<float>> good, other;  // the last kFaces embeddings of each kind
    const std::vector<std::vector<float>>& faces() const { return good.empty() ? other : good; }
  };
  static constexpr std::size_t kFaces = 8;
  float link_cosine_;
  double link_seconds_;
  float link_margin_;
  std::int64_t next_id_ = 1;
  std::map<std::int64_t, Identity> identities_;          // open ones
  std::map<std::int64_t, std::int64_t> track_identity_;  // tracker track -> identity
};

// unknown-N names for decided strangers, shared by every source of a run (thread-safe).
class StrangerRegistry {
 public:
  explicit StrangerRegistry(float threshold_l2) : link_cosine_(cosine_from_l2(threshold_l2)) {}
  // The name for a stranger with these faces: the number of a stranger seen before whose faces
  // match (and who is not on screen as someone else now), else the next number. Call release()
  // when the identity holding the name ends or becomes someone known.
  std::string name(const std::vector<std::vector<float>>& faces);
  void release(const std::string& name);
  int count() const;  // distinct strangers named so far

 private:
  struct Stranger {
    std::vector<std::vector<float>> faces;
    bool in_use = false;
  };
  float link_cosine_;
  mutable std::mutex mutex_;
  std::vector<Stranger> strangers_;  // unknown-(i+1)
};

// The largest cosine between `face` and any of `faces` (unit vectors); -1 when none.
float best_cosine(std::span<const float> face, const std::vector<std::vector<float>>& faces);

}  // namespace clipface
