// Where a download comes from (internal header): the exact URL given, else a mirror
// (DownloadOptions::base_url or $CLIPFACE_MODEL_BASE_URL) holding the file under the official
// URL's last component (or `fallback_name` when there is no official URL), else the official URL.
#pragma once

#include <string>
#include <string_view>

#include "clipface/models.hpp"

namespace clipface::models {

std::string source_url(const DownloadOptions& options, std::string_view official,
                       std::string_view fallback_name);

}  // namespace clipface::models
