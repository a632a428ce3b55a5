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

namespace clipface::models {

// How the bytes at the URL relate to the file on disk.
enum class Compression { none, bzip2 };

struct ModelEntry {
  std::string_view name;    // canonical name, e.g. "ViT-B/32", "yunet-2022mar"
  std::string_view kind;    // "clip", "vocabulary", "detector", "landmarks", "face-embedder"
  std::string_view format;  // "torchscript", "gzip", "onnx", "dlib"
  std::string_view file;    // file name under models_dir(), e.g. "ViT-B-32.pt"
  std::string_view url;     // official download URL; empty when there is none to redistribute
  std::string_view sha256;  // of the file on disk (after decompression)
  Compression compression;  // of the bytes at `url`
  std::string_view source;  // where it comes from, licence notes
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

struct DownloadOptions {
  std::filesystem::path dest_dir;  // pull(): where to store; empty = models_dir()
  std::string url;                 // pull(): exact URL, overrides the registry and base_url
  std::string base_url;  // pull(): mirror; empty = $CLIPFACE_MODEL_BASE_URL, else official
  bool force = false;    // pull(): download even when a verified file is there
  Compression compression = Compression::none;  // download(): how the served bytes are packed
  bool progress = true;                         // progress bar on stderr (only drawn on a terminal)
  int max_attempts = 4;  // tries per call for transient failures (resuming each time)
  std::chrono::milliseconds retry_delay{1000};  // first back-off; doubles per attempt
  long connect_timeout_s = 20;
  // Abort a transfer slower than low_speed_bytes per second for low_speed_time_s seconds.
  long low_speed_bytes = 1024;
  long low_speed_time_s = 30;
};

// Downloads `name` into dest_dir (or models_dir()) and returns the file's path. A file already
// there with the right checksum is kept as is (unless force). A URL ending in ".bz2" is unpacked
// (options.compression is ignored here). Throws InputError for unknown names,
// DownloadError for models without a URL (no mirror given) and for failed downloads.
std::filesystem::path pull(std::string_view name, const DownloadOptions& options = {});

// Downloads `url` to `dest`. Bytes go to "<dest>.part" (resumed with an HTTP Range request if it
// exists; a server answering 200 instead of 206 restarts it), bzip2 streams are unpacked after
// the transfer, and the result is renamed to `dest` only once its sha256 equals expected_sha256.
// A wrong checksum removes the partial files and throws DownloadError naming both sums; HTTP
// errors (404...) and network failures after all retries throw DownloadError. An interrupted
// transfer leaves only "<dest>.part" (the packed bytes), which the next call resumes.
void download(const std::string& url, const std::filesystem::path& dest,
              const std::string& expected_sha256, const DownloadOptions& options = {});

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
