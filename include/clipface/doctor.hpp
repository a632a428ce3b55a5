// `clipface doctor`: what this machine gives clipface, in one report. The CPU's instruction sets,
// what oneDNN runs on them and the precision `--precision auto` picks (with why), the gallery's
// int8 kernels, thread counts, library versions, the models found and the settings in force.
// For bug reports and for "why is this slow here".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clipface/clip.hpp"
#include "clipface/cpu.hpp"

namespace clipface {

struct ModelPresence {
  std::string name;  // registry name, e.g. "yunet-2022mar"
  std::string kind;  // "detector", "face-embedder", "clip", ...
  std::string path;  // where it is, "" when absent
  std::uint64_t bytes = 0;
};

struct SystemReport {
  std::string clipface_version;
  CpuInfo cpu;
  ClipCpuSupport clip;
  std::string int8_kernels;  // what the CFIVF gallery index scans with: avx512_vnni, avx2 or scalar
  int hardware_threads = 0;  // what clipface uses when --threads is 0
  std::vector<std::pair<std::string, std::string>> libraries;  // name -> version (or path)
  std::string models_dir;
  std::vector<ModelPresence> models;
  std::vector<std::pair<std::string, std::string>> settings;  // variable -> value ("" = unset)
  std::vector<std::string> warnings;  // things worth fixing (reference BLAS, missing face models)
};

SystemReport system_report();
nlohmann::json to_json(const SystemReport& report);
std::string to_text(const SystemReport& report);  // the table the CLI prints

}  // namespace clipface
