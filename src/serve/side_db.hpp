// The service's own SQLite files beside a gallery (keys.db, audit.db): opened or created with a
// format marker and a schema version, in WAL mode, through the gallery's SQLite layer. They are
// separate files so the gallery's schema stays the gallery's.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "gallery/sqlite.hpp"

namespace clipface::serve_detail {

// Opens `path` (creating it with `schema` when `create` is set and it is missing). GalleryError
// when it is another kind of file, of a newer schema, or cannot be opened.
std::unique_ptr<gallery_detail::Database> open_side_db(const std::filesystem::path& path,
                                                       const std::string& format, int version,
                                                       const std::string& schema, bool create);

// Now in UTC, ISO 8601 with milliseconds: 2026-12-04T18:40:00.123Z.
std::string utc_now();

}  // namespace clipface::serve_detail
