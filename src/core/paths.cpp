#include "clipface/paths.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include "clipface/errors.hpp"

namespace clipface {
namespace fs = std::filesystem;

fs::path clipface_home() {
  if (const char* home = std::getenv("CLIPFACE_HOME"); home && *home) return home;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "clipface";
  if (const char* user = std::getenv("HOME"); user && *user) return fs::path(user) / ".cache/clipface";
  return fs::current_path() / ".cache/clipface";
}

fs::path models_dir() { return clipface_home() / "models"; }

fs::path find_model_file(const std::string& name_or_path) {
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  const fs::path in_home = models_dir() / name_or_path;
  if (fs::is_regular_file(in_home, ec)) return in_home;
  throw ModelError("model file not found: '" + name_or_path + "' (looked in " +
                   models_dir().string() + "; run 'clipface models pull' or scripts/setup.sh)");
}

void write_file_atomically(const fs::path& path, const std::string& bytes) {
  std::random_device rd;
  const fs::path tmp = path.string() + ".tmp" + std::to_string(rd());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw InputError("cannot write " + path.string() + ": directory missing or read-only");
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
                    std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!ok) {
      std::remove(tmp.c_str());
      throw InputError("cannot write " + path.string() + " (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw InputError("cannot write " + path.string() + ": " + ec.message());
  }
}

}  // namespace clipface
