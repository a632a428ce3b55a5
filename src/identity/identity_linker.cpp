#include <algorithm>

#include "clipface/errors.hpp"
#include "clipface/matrix.hpp"
#include "clipface/track_identity.hpp"

namespace clipface {

float best_cosine(std::span<const float> face, const std::vector<std::vector<float>>& faces) {
  float best = -1;
  for (const auto& other : faces) {
    if (other.size() == face.size()) best = std::max(best, dot(face, other));
  }
  return best;
}

IdentityLinker::IdentityLinker(float link_threshold, double link_seconds, float link_margin)
    : link_cosine_(cosine_from_l2(link_threshold)),
      link_seconds_(link_seconds),
      link_margin_(link_margin) {
  if (link_threshold < 0 || link_seconds < 0 || link_margin < 0) {
    throw InputError("identity linker: threshold, seconds and margin must not be negative");
  }
}

std::optional<std::int64_t> IdentityLinker::identity_of(std::int64_t track) const {
  const auto it = track_identity_.find(track);
  if (it == track_identity_.end()) return std::nullopt;
  return it->second;
}

IdentityLinker::Assignment IdentityLinker::assign(std::int64_t track,
                                                  std::span<const float> embedding, double time,
                                                  bool good) {
  if (auto known = identity_of(track)) return {*known, false, 0};
  // The best and second-best identities off screen and recent enough.
  std::int64_t best_id = 0;
  float best = -2, second = -2;
  for (const auto& [id, identity] : identities_) {
    if (identity.on_screen || time - identity.last_seen > link_seconds_) continue;
    const float c = best_cosine(embedding, identity.faces());
    if (c > best) {
      second = best;
      best = c;
      best_id = id;
    } else {
      second = std::max(second, c);
    }
  }
  Assignment out;
  if (best_id != 0 && best >= link_cosine_ && best - second >= link_margin_) {
    Identity& identity = identities_[best_id];
    if (identity.track >= 0) track_identity_.erase(identity.track);  // the old track lets go
    identity.track = track;
    out = {best_id, true, best};
  } else {
    out.identity = next_id_++;
    identities_[out.identity].track = track;
  }
  track_identity_[track] = out.identity;
  Identity& identity = identities_[out.identity];
  identity.on_screen = true;
  identity.last_seen = time;
  add_face(out.identity, embedding, good);
  return out;
}

void IdentityLinker::add_face(std::int64_t identity, std::span<const float> embedding, bool good) {
  const auto it = identities_.find(identity);
  if (it == identities_.end()) return;
  auto& faces = good ? it->second.good : it->second.other;
  if (faces.size() >= kFaces) faces.erase(faces.begin());
  faces.emplace_back(embedding.begin(), embedding.end());
}

void IdentityLinker::seen(std::int64_t track, double time) {
  const auto id = identity_of(track);
  if (!id) return;
  Identity& identity = identities_[*id];
  identity.on_screen = true;
  identity.last_seen = time;
}

void IdentityLinker::unseen(std::int64_t track) {
  if (const auto id = identity_of(track)) identities_[*id].on_screen = false;
}

std::vector<std::int64_t> IdentityLinker::expire(double time) {
  std::vector<std::int64_t> ended;
  for (auto it = identities_.begin(); it != identities_.end();) {
    if (!it->second.on_screen && time - it->second.last_seen > link_seconds_) {
      ended.push_back(it->first);
      if (it->second.track >= 0) track_identity_.erase(it->second.track);
      it = identities_.erase(it);
    } else {
      ++it;
    }
  }
  return ended;
}

std::vector<std::int64_t> IdentityLinker::end_all() {
  std::vector<std::int64_t> ended;
  for (const auto& [id, identity] : identities_) ended.push_back(id);
  identities_.clear();
  track_identity_.clear();
  return ended;
}

std::string StrangerRegistry::name(const std::vector<std::vector<float>>& faces) {
  std::lock_guard lock(mutex_);
  int best = -1;
  float best_cos = link_cosine_;
  for (std::size_t i = 0; i < strangers_.size(); ++i) {
    if (strangers_[i].in_use) continue;
    for (const auto& face : faces) {
      const float c = best_cosine(face, strangers_[i].faces);
      if (c >= best_cos) {
        best_cos = c;
        best = static_cast<int>(i);
      }
    }
  }
  if (best < 0) {
    strangers_.emplace_back();
    best = static_cast<int>(strangers_.size()) - 1;
  }
  Stranger& s = strangers_[best];
  s.in_use = true;
  for (const auto& face : faces) {
    if (s.faces.size() >= 16) s.faces.erase(s.faces.begin());
    s.faces.push_back(face);
  }
  return "unknown-" + std::to_string(best + 1);
}

void StrangerRegistry::release(const std::string& name) {
  const std::string prefix = "unknown-";
  if (name.rfind(prefix, 0) != 0) return;
  std::lock_guard lock(mutex_);
  const std::size_t i = std::stoul(name.substr(prefix.size())) - 1;
  if (i < strangers_.size()) strangers_[i].in_use = false;
}

int StrangerRegistry::count() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(strangers_.size());
}

}  // namespace clipface
