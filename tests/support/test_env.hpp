// Helpers every test uses: where ../shared is, scratch folders, and running the CLI binary.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clipface::testing {

// The shared data folder: $CLIPFACE_SHARED, else the build's default (../shared beside the repo).
std::filesystem::path shared_dir();
std::filesystem::path shared_path(const std::string& relative);
std::filesystem::path source_dir();

// A fresh empty folder removed again when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs build/clipface with the arguments (no shell), capturing stdout and stderr.
CommandResult run_cli(const std::vector<std::string>& args,
                      const std::vector<std::string>& extra_env = {});
// Runs any program the same way.
CommandResult run_program(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {});

std::string read_text(const std::filesystem::path& path);

// A CLIPFACE_HOME for CLI runs: `home/models` holds symlinks to the shared face models and the
// CLIP vocabulary, and to this process's models_dir()/human-models when it exists. Returns the
// "CLIPFACE_HOME=..." entry to pass to run_cli.
std::string make_models_home(const std::filesystem::path& home);

// One JSON document per non-empty line (the CLI's --json output of per-item commands).
std::vector<nlohmann::json> json_lines(const std::string& out);

// The CLI with its own CLIPFACE_HOME (make_models_home), for tests that run it several times.
class Cli {
 public:
  Cli() : env_{make_models_home(home_.path())} {}
  CommandResult operator()(const std::vector<std::string>& args) const {
    return run_cli(args, env_);
  }
  const std::string& home_entry() const { return env_.front(); }

 private:
  TempDir home_;
  std::vector<std::string> env_;
};

// Symlinks shared files into `dir/<person>/<file>` so a test can build its own people folder
// without copying research photos. Each entry: {person, path relative to shared_dir()}.
void make_people_dir(const std::filesystem::path& dir,
                     const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace clipface::testing

// Skips the test (not fails) when a shared file is missing, as the data README asks.
#define CLIPFACE_REQUIRE_SHARED(relative)                                                   \
  do {                                                                                      \
    if (!std::filesystem::exists(::clipface::testing::shared_path(relative)))               \
      GTEST_SKIP() << "shared data missing: " << ::clipface::testing::shared_path(relative); \
  } while (0)
