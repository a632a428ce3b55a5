// Damage planted in a gallery the way a foreign tool would (straight into gallery.db).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace clipface::testing {

// Overwrites a face's stored vector with a unit vector along dimension `axis`.
inline void overwrite_vector(const std::filesystem::path& db_path, std::int64_t face, int dim,
                             int axis) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  std::vector<float> v(static_cast<std::size_t>(dim), 0.0f);
  v[static_cast<std::size_t>(axis)] = 1.0f;
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "UPDATE embeddings SET vector = ? WHERE face_id = ?", -1, &stmt, nullptr);
  sqlite3_bind_blob(stmt, 1, v.data(), static_cast<int>(v.size() * sizeof(float)), nullptr);
  sqlite3_bind_int64(stmt, 2, face);
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace clipface::testing
