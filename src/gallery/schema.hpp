// gallery.db's schema versions and the migrations between them (internal). A new gallery is made
// the way an old one is upgraded: the version-1 tables, then every migration in turn, so an
// upgraded gallery and a new one cannot drift apart.
//
// Version 2 (issue 17): faces without a person (unlabelled, or known strangers), their position
// among the image's detections, a quality record per face, clusters of unlabelled faces with
// their core faces and the person each is proposed as, negative examples ("this face is not X"),
// calibrations (global and per-person thresholds with the target FAR and when they were
// measured), and the vectors of a re-embedding in progress beside the live ones.
#pragma once

#include <cstdint>
#include <string>

#include "gallery/sqlite.hpp"

namespace clipface::gallery_detail {

inline constexpr int kSchemaVersion = 2;

// Upgrades a database of version `from` (1 <= from < kSchemaVersion) to kSchemaVersion in ONE
// write transaction (all steps land or none does), then checks foreign keys. Another process
// that upgraded first is noticed inside the transaction and nothing is done. Needs a connection
// with foreign keys off (rebuilding `faces` must not cascade into its embeddings).
void upgrade_schema(Database& db, const std::string& label);

// Steps only, inside the caller's write transaction (Gallery::create runs them on new files).
void run_migrations(Database& db, std::int64_t from);

std::int64_t user_version(const Database& db);

}  // namespace clipface::gallery_detail
