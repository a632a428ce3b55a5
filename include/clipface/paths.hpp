// Where clipface keeps and finds things. One setting each, read from the environment:
//   CLIPFACE_HOME    models and caches (default ~/.cache/clipface)
//   CLIPFACE_SHARED  the shared data folder with development photos and fixtures
#pragma once

#include <filesystem>
#include <string>

namespace clipface {

std::filesystem::path clipface_home();
std::filesystem::path models_dir();  // clipface_home() / "models"

// Finds a model file by name: an existing path is returned as is; otherwise models_dir()/name.
// Throws ModelError naming `clipface models pull` when nothing is there.
std::filesystem::path find_model_file(const std::string& name_or_path);

// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

}  // namespace clipface
