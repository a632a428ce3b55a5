#include <curl/curl.h>
#include <dlib/revision.h>
#include <faiss/Index.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <opencv2/core/version.hpp>
#include <thread>

#include "clipface/doctor.hpp"
#include "clipface/gallery.hpp"
#include "clipface/models.hpp"
#include "clipface/paths.hpp"

namespace clipface {
namespace fs = std::filesystem;
namespace {

constexpr const char* kSettings[] = {"CLIPFACE_HOME",           "CLIPFACE_SHARED",
                                     "CLIPFACE_MODEL_BASE_URL", "CLIPFACE_PROGRESS_SECONDS",
                                     "CLIPFACE_INT8_ISA",       "ONEDNN_MAX_CPU_ISA",
                                     "OMP_NUM_THREADS",         "OPENBLAS_NUM_THREADS"};

// Which BLAS LibTorch and FAISS call: Debian's alternatives link (the reference BLAS is ~10x
// slower than OpenBLAS for the products that oneDNN does not run).
std::string blas_in_use() {
  std::error_code ec;
  const fs::path link = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu";
  const fs::path target = fs::read_symlink(link, ec);
  return ec ? "unknown (no " + link.string() + ")" : target.string();
}

std::string version(int major, int minor, int patch) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string yes_no(bool value) {
  return value ? "yes" : "no";
}

// Rows of "name  value" with the names padded to one width.
std::string rows(const std::vector<std::pair<std::string, std::string>>& entries, int indent) {
  std::size_t width = 0;
  for (const auto& [name, value] : entries) width = std::max(width, name.size());
  std::string out;
  for (const auto& [name, value] : entries) {
    out += std::string(static_cast<std::size_t>(indent), ' ') + name +
           std::string(width - name.size() + 2, ' ') + value + "\n";
  }
  return out;
}

}  // namespace

SystemReport system_report() {
  SystemReport r;
  r.clipface_version = CLIPFACE_VERSION;
  r.cpu = cpu_info();
  r.clip = clip_cpu_support();
  r.int8_kernels = int8_kernels_in_use();
  r.hardware_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const curl_version_info_data* curl = curl_version_info(CURLVERSION_NOW);
  r.libraries = {{"LibTorch", r.clip.libtorch_version},
                 {"oneDNN", r.clip.onednn_version},
                 {"OpenCV", CV_VERSION},
                 {"FAISS", version(FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR, FAISS_VERSION_PATCH)},
                 {"dlib", version(DLIB_MAJOR_VERSION, DLIB_MINOR_VERSION, DLIB_PATCH_VERSION)},
                 {"SQLite", sqlite3_libversion()},
                 {"libcurl", curl ? curl->version : "unknown"},
                 {"BLAS", blas_in_use()}};
  if (r.libraries.back().second.find("openblas") == std::string::npos) {
    r.warnings.push_back("BLAS is not OpenBLAS (" + r.libraries.back().second +
                         "): fp32 products outside oneDNN run ~10x slower; scripts/setup.sh "
                         "switches it");
  }
  r.models_dir = models_dir().string();
  for (const auto& entry : models::registry()) {
    ModelPresence m{std::string(entry.name), std::string(entry.kind), "", 0};
    const fs::path file = models_dir() / std::string(entry.file);
    std::error_code ec;
    if (fs::exists(file, ec)) {
      m.path = file.string();
      m.bytes = fs::file_size(file, ec);
    }
    r.models.push_back(std::move(m));
  }
  for (const char* name : {"yunet-2022mar", "dlib-landmarks-5", "dlib-resnet-v1"}) {
    const auto it = std::find_if(r.models.begin(), r.models.end(),
                                 [&](const ModelPresence& m) { return m.name == name; });
    if (it != r.models.end() && it->path.empty()) {
      r.warnings.push_back("face model " + it->name + " is missing: clipface models pull " +
                           it->name);
    }
  }
  for (const char* name : kSettings) {
    const char* value = std::getenv(name);
    r.settings.emplace_back(name, value ? value : "");
  }
  return r;
}

nlohmann::json to_json(const SystemReport& r) {
  nlohmann::json libraries = nlohmann::json::object(), settings = nlohmann::json::object();
  for (const auto& [name, value] : r.libraries) libraries[name] = value;
  for (const auto& [name, value] : r.settings)
    settings[name] = value.empty() ? nullptr : nlohmann::json(value);
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : r.models) {
    models.push_back({{"name", m.name},
                      {"kind", m.kind},
                      {"present", !m.path.empty()},
                      {"path", m.path.empty() ? nullptr : nlohmann::json(m.path)},
                      {"bytes", m.bytes}});
  }
  return {
      {"clipface", r.clipface_version},
      {"cpu",
       {{"vendor", r.cpu.vendor},
        {"model", r.cpu.model},
        {"family", r.cpu.family},
        {"model_number", r.cpu.model_number},
        {"features", r.cpu.names()},
        {"avx2", r.cpu.avx2},
        {"avx512_core", r.cpu.avx512_core()},
        {"avx512_vnni", r.cpu.avx512_vnni},
        {"avx512_bf16", r.cpu.avx512_bf16},
        {"amx_bf16", r.cpu.amx_bf16}}},
      {"clip",
       {{"onednn_isa", r.clip.isa},
        {"onednn_isa_limit", r.clip.isa_limit.empty() ? nullptr : nlohmann::json(r.clip.isa_limit)},
        {"fp32", "native"},
        {"bf16", to_string(r.clip.bf16)},
        {"bf16_reason", r.clip.bf16_reason},
        {"auto_precision", to_string(r.clip.automatic)}}},
      {"int8_kernels", r.int8_kernels},
      {"threads", r.hardware_threads},
      {"libraries", libraries},
      {"models_dir", r.models_dir},
      {"models", models},
      {"settings", settings},
      {"warnings", r.warnings}};
}

std::string to_text(const SystemReport& r) {
  std::string features;
  for (const auto& f : r.cpu.names()) features += (features.empty() ? "" : " ") + f;
  std::string out = "clipface " + r.clipface_version + "\n\nCPU\n";
  out += rows(
      {{"model", r.cpu.model.empty() ? r.cpu.vendor : r.cpu.model},
       {"family/model", std::to_string(r.cpu.family) + "/" + std::to_string(r.cpu.model_number)},
       {"instruction sets", features},
       {"AVX2 / AVX-512 core", yes_no(r.cpu.avx2) + " / " + yes_no(r.cpu.avx512_core())},
       {"int8 VNNI",
        yes_no(r.cpu.avx512_vnni) + " (AVX-512), " + yes_no(r.cpu.avx_vnni) + " (AVX)"},
       {"bf16",
        yes_no(r.cpu.avx512_bf16) + " (AVX-512 BF16), " + yes_no(r.cpu.amx_bf16) + " (AMX)"},
       {"threads", std::to_string(r.hardware_threads)}},
      2);
  out += "\nWhat runs here\n";
  out += rows(
      {{"CLIP fp32",
        "oneDNN " + r.clip.isa + " kernels" +
            (r.clip.isa_limit.empty() ? "" : " (ONEDNN_MAX_CPU_ISA=" + r.clip.isa_limit + ")")},
       {"CLIP bf16", to_string(r.clip.bf16) + ": " + r.clip.bf16_reason},
       {"--precision auto", to_string(r.clip.automatic)},
       {"gallery int8 (CFIVF)", r.int8_kernels}},
      2);
  out += "\nLibraries\n" + rows(r.libraries, 2);
  out += "\nModels in " + r.models_dir + "\n";
  std::vector<std::pair<std::string, std::string>> model_rows;
  for (const auto& m : r.models) {
    model_rows.emplace_back(
        m.name, m.path.empty() ? "-" : "present (" + std::to_string(m.bytes / 1024) + " KiB)");
  }
  out += rows(model_rows, 2);
  std::vector<std::pair<std::string, std::string>> setting_rows;
  for (const auto& [name, value] : r.settings)
    setting_rows.emplace_back(name, value.empty() ? "(unset)" : value);
  out += "\nSettings\n" + rows(setting_rows, 2);
  if (!r.warnings.empty()) {
    out += "\nWarnings\n";
    for (const auto& w : r.warnings) out += "  " + w + "\n";
  }
  return out;
}

}  // namespace clipface
