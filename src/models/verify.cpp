// Checks a model file on disk: its sha256 against the registry and, where it costs a few reads,
// its structure (a truncated TorchScript zip has no end-of-central-directory record).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"

namespace clipface::models {
namespace fs = std::filesystem;
namespace {

std::string read_range(const fs::path& path, std::uint64_t offset, std::size_t count) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!f) throw InputError("cannot read " + path.string());
  if (std::fseek(f.get(), static_cast<long>(offset), SEEK_SET) != 0) {
    throw InputError("cannot read " + path.string());
  }
  std::string bytes(count, '\0');
  bytes.resize(std::fread(bytes.data(), 1, count, f.get()));
  return bytes;
}

void check_structure(const fs::path& path, VerifyResult& result) {
  const std::string head = read_range(path, 0, 16);
  const std::string_view magic(head);
  const ModelEntry* expected = result.named_as ? result.named_as : result.match;
  if (result.size == 0) {
    result.format = "empty";
    result.structure_ok = false;
    result.structure_note = "empty file";
  } else if (magic.starts_with("PK\x03\x04")) {
    result.format = "zip";
    // The end-of-central-directory record sits in the last 22 + up to 65535 comment bytes.
    constexpr std::uint64_t kTail = 22 + 65535;
    const std::uint64_t start = result.size > kTail ? result.size - kTail : 0;
    const std::string tail = read_range(path, start, static_cast<std::size_t>(result.size - start));
    if (tail.rfind(std::string_view("PK\x05\x06", 4)) == std::string::npos) {
      result.structure_ok = false;
      result.structure_note = "zip archive without its central directory (truncated?)";
    } else {
      result.structure_note = "zip archive (TorchScript / PyTorch)";
    }
  } else if (magic.starts_with("\x1f\x8b")) {
    result.format = "gzip";
    result.structure_note = "gzip stream";
  } else if (magic.starts_with("BZh")) {
    result.format = "bzip2";
    result.structure_note = "bzip2 stream: unpack it before use";
  } else if (head.size() >= 9 && head[8] == '{') {
    std::uint64_t header = 0;
    std::memcpy(&header, head.data(), sizeof header);  // little-endian length of the JSON header
    result.format = "safetensors";
    result.structure_ok = header + 8 <= result.size;
    result.structure_note = result.structure_ok ? "safetensors" : "safetensors header past the end";
  } else if (path.extension() == ".onnx" || (expected && expected->format == "onnx")) {
    // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    result.format = "onnx";
    result.structure_ok = head[0] == '\x08';
    result.structure_note = result.structure_ok ? "ONNX protobuf" : "not an ONNX protobuf";
  } else if (expected && expected->format == "tfjs-graph") {
    result.format = "tfjs-graph";
    result.structure_ok = head[0] == '{';
    result.structure_note = result.structure_ok ? "TF.js model.json" : "not a JSON object";
  } else if (expected && expected->format == "tfjs-weights") {
    result.format = "tfjs-weights";
    result.structure_note = "TF.js weight shard (its size is checked against model.json at load)";
  } else if (expected && expected->format == "dlib") {
    result.format = "dlib";
    result.structure_note = "dlib serialised model (no cheap structural check)";
  } else {
    result.format = "unknown";
    result.structure_note = "no structural check for this kind of file";
  }
  if (expected && result.structure_ok) {
    const std::string_view want = expected->format == "torchscript" ? "zip" : expected->format;
    if (want != result.format) {
      result.structure_ok = false;
      result.structure_note =
          "expected " + std::string(expected->format) + " but found " + result.format;
    }
  }
}

}  // namespace

VerifyResult verify(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw InputError("cannot verify " + path.string() + ": no such file");
  }
  VerifyResult result;
  result.path = path;
  result.size = fs::file_size(path, ec);
  result.sha256 = sha256_file(path);
  result.match = find_by_sha256(result.sha256);
  const std::string name = path.filename().string();
  for (const auto& entry : registry()) {
    if (fs::path(entry.file).filename() == name) result.named_as = &entry;
  }
  check_structure(path, result);
  return result;
}

void check_installed(const ModelEntry& entry, const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    const std::string pull =
        entry.package.empty() ? std::string(entry.name) : std::string(entry.package);
    throw ModelError("model file not found: " + path.string() + " (run `clipface models pull " +
                     pull + "`)");
  }
  // Hashing 14 MB costs ~40 ms: once per file version and process.
  static std::mutex mutex;
  static std::map<std::string, std::string> sums;
  const auto size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  const std::string key = fs::weakly_canonical(path).string() + "|" + std::to_string(size) + "|" +
                          std::to_string(mtime);
  std::string sum;
  {
    std::lock_guard lock(mutex);
    if (const auto it = sums.find(key); it != sums.end()) sum = it->second;
  }
  if (sum.empty()) {
    try {
      sum = sha256_file(path);
    } catch (const InputError& e) {
      throw ModelError(e.what());
    }
    std::lock_guard lock(mutex);
    sums[key] = sum;
  }
  if (sum != entry.sha256) {
    throw ModelError(
        "integrity check failed for " + path.string() + ": sha256 " + sum + ", the registry pins " +
        std::string(entry.sha256) + " for " + std::string(entry.name) +
        " (altered or truncated; run `clipface models pull " +
        std::string(entry.package.empty() ? entry.name : entry.package) + " --force`)");
  }
}

}  // namespace clipface::models
