// clipface models list | pull NAME... | verify PATH...
// Downloads go to $CLIPFACE_HOME/models; CLIPFACE_MODEL_BASE_URL (or --base-url) names a mirror
// holding the files under their official names, --url one exact URL.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "clipface/paths.hpp"
#include "command.hpp"

namespace clipface::app {
namespace {

namespace fs = std::filesystem;
using clipface::models::ModelEntry;

nlohmann::json entry_json(const ModelEntry& entry) {
  const fs::path installed = models_dir() / entry.file;
  std::error_code ec;
  return {{"name", entry.name},
          {"kind", entry.kind},
          {"format", entry.format},
          {"file", entry.file},
          {"url", entry.url},
          {"sha256", entry.sha256},
          {"compression", entry.compression == models::Compression::bzip2 ? "bzip2" : "none"},
          {"source", entry.source},
          {"licence", entry.licence},
          {"package", entry.package.empty() ? nlohmann::json() : nlohmann::json(entry.package)},
          {"installed", fs::is_regular_file(installed, ec)},
          {"path", installed.string()}};
}

nlohmann::json package_json(const models::PackageEntry& package) {
  return {{"name", package.name},       {"npm", package.npm},
          {"url", package.url},         {"integrity", package.integrity},
          {"licence", package.licence}, {"source", package.source}};
}

int run_list(bool json) {
  if (json) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& entry : models::registry()) {
      nlohmann::json row = entry_json(entry);
      if (const auto* package = models::find_package(entry.package)) {
        row["package"] = package_json(*package);
      }
      all.push_back(row);
    }
    std::printf("%s\n", all.dump(2).c_str());
    return 0;
  }
  std::printf("%-21s %-13s %-41s %-9s %-14s %-64s %s\n", "NAME", "KIND", "FILE", "INSTALLED",
              "LICENCE", "SHA256", "SOURCE");
  for (const auto& entry : models::registry()) {
    std::error_code ec;
    const bool installed = fs::is_regular_file(models_dir() / entry.file, ec);
    const std::string source =
        (entry.url.empty() && entry.package.empty() ? "(no official URL) " : "") +
        std::string(entry.source);
    std::printf("%-21.*s %-13.*s %-41.*s %-9s %-14.*s %.*s %s\n",
                static_cast<int>(entry.name.size()), entry.name.data(),
                static_cast<int>(entry.kind.size()), entry.kind.data(),
                static_cast<int>(entry.file.size()), entry.file.data(), installed ? "yes" : "no",
                static_cast<int>(entry.licence.size()), entry.licence.data(),
                static_cast<int>(entry.sha256.size()), entry.sha256.data(), source.c_str());
  }
  for (const auto& package : models::packages()) {
    std::printf("package %.*s (pull it by this name): npm %.*s, %.*s licence, integrity %.*s\n",
                static_cast<int>(package.name.size()), package.name.data(),
                static_cast<int>(package.npm.size()), package.npm.data(),
                static_cast<int>(package.licence.size()), package.licence.data(),
                static_cast<int>(package.integrity.size()), package.integrity.data());
  }
  std::printf("models folder: %s\n", models_dir().c_str());
  return 0;
}

int run_pull(const std::vector<std::string>& names, models::DownloadOptions options, bool json) {
  if (!options.url.empty() && names.size() != 1) {
    throw InputError("--url needs exactly one model name");
  }
  if (!options.package_file.empty() &&
      (names.size() != 1 || models::find_package(names[0]) == nullptr)) {
    throw InputError("--package-file needs exactly one package name (e.g. human-models)");
  }
  nlohmann::json pulled = nlohmann::json::array();
  for (const auto& name : names) {
    const fs::path path = models::pull(name, options);
    if (const auto* package = models::find_package(name)) {
      if (json) {
        pulled.push_back(
            {{"name", package->name}, {"path", path.string()}, {"integrity", package->integrity}});
      } else {
        std::printf("%s\n", path.c_str());
      }
      continue;
    }
    const ModelEntry& entry = models::lookup(name);
    if (json) {
      pulled.push_back({{"name", entry.name}, {"path", path.string()}, {"sha256", entry.sha256}});
    } else {
      std::printf("%s\n", path.c_str());
    }
  }
  if (json) std::printf("%s\n", pulled.dump(2).c_str());
  return 0;
}

int run_verify(const std::vector<std::string>& paths, bool json) {
  nlohmann::json results = nlohmann::json::array();
  std::string first_problem;
  for (const auto& path : paths) {
    const auto result = models::verify(path);
    const std::string match = result.match ? std::string(result.match->name) : "";
    if (json) {
      results.push_back({{"path", path},
                         {"size", result.size},
                         {"sha256", result.sha256},
                         {"match", result.match ? nlohmann::json(match) : nlohmann::json()},
                         {"format", result.format},
                         {"structure_ok", result.structure_ok},
                         {"note", result.structure_note},
                         {"ok", result.ok()}});
    } else {
      std::printf("%s  %s  %s  %s\n", result.sha256.c_str(), path.c_str(),
                  result.match ? match.c_str() : "(not in registry)",
                  result.structure_note.c_str());
    }
    if (!result.ok() && first_problem.empty()) {
      first_problem = path + ": ";
      if (!result.structure_ok) {
        first_problem += result.structure_note;
      } else {
        first_problem += "named like " + std::string(result.named_as->name) + " but its sha256 " +
                         result.sha256 + " is not " + std::string(result.named_as->sha256);
      }
    }
  }
  if (json) std::printf("%s\n", results.dump(2).c_str());
  if (!first_problem.empty()) throw ModelError(first_problem);
  return 0;
}

const bool registered = register_command(
    "models", "list, download and verify model files", [](CLI::App& app) -> Runner {
      app.require_subcommand(1);
      struct State {
        bool json = false;
        std::vector<std::string> names;
        std::vector<std::string> paths;
        std::string dir;
        models::DownloadOptions options;
      };
      auto state = std::make_shared<State>();

      CLI::App* list = app.add_subcommand("list", "show every known model and its sha256");
      list->add_flag("--json", state->json, "print JSON");

      CLI::App* pull = app.add_subcommand(
          "pull", "download models into $CLIPFACE_HOME/models, resuming and verifying");
      pull->add_option("names", state->names, "model or package names (see 'models list')")
          ->required();
      pull->add_option("--dir", state->dir, "store here instead of $CLIPFACE_HOME/models");
      pull->add_option("--base-url", state->options.base_url,
                       "mirror holding the files under their official names "
                       "(default $CLIPFACE_MODEL_BASE_URL, else the official URL)");
      pull->add_option("--url", state->options.url, "download this exact URL (one model)");
      pull->add_flag("--force", state->options.force, "download even if a verified copy exists");
      pull->add_option("--package-file", state->options.package_file,
                       "for a package (human-models): unpack this tarball, e.g. from `npm pack`, "
                       "instead of downloading it (its integrity is still checked)");
      pull->add_option("--attempts", state->options.max_attempts, "tries on network failures")
          ->check(CLI::Range(1, 100));
      pull->add_flag("--json", state->json, "print JSON");

      CLI::App* verify = app.add_subcommand(
          "verify", "hash files and match them against the registry; exit 4 if one is damaged");
      verify->add_option("paths", state->paths, "model files")->required();
      verify->add_flag("--json", state->json, "print JSON");

      return [state, list, pull, verify]() -> int {
        if (list->parsed()) return run_list(state->json);
        if (pull->parsed()) {
          state->options.dest_dir = state->dir;
          return run_pull(state->names, state->options, state->json);
        }
        if (verify->parsed()) return run_verify(state->paths, state->json);
        return 2;
      };
    });

}  // namespace
}  // namespace clipface::app
