#include "support/test_env.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "clipface/paths.hpp"

extern char** environ;

namespace clipface::testing {
namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("CLIPFACE_SHARED"); env && *env) return env;
  return fs::weakly_canonical(CLIPFACE_DEFAULT_SHARED);
}

fs::path shared_path(const std::string& relative) {
  return shared_dir() / relative;
}

fs::path source_dir() {
  return CLIPFACE_SOURCE_DIR;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("clipface-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  // Tests may make folders read-only; give permissions back so cleanup succeeds.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult run_program(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env) {
  TempDir scratch;
  const fs::path out_file = scratch / "stdout";
  const fs::path err_file = scratch / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  auto overridden = [&](const std::string& entry) {
    const std::string key = entry.substr(0, entry.find('=') + 1);
    for (const auto& e : extra_env) {
      if (e.compare(0, key.size(), key) == 0) return true;
    }
    return false;
  };
  for (char** e = environ; *e; ++e) {
    if (!overridden(*e)) env_strings.emplace_back(*e);
  }
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = 0;
  CommandResult result;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data()) == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&actions);
  result.out = read_text(out_file);
  result.err = read_text(err_file);
  return result;
}

CommandResult run_cli(const std::vector<std::string>& args,
                      const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv{CLIPFACE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, extra_env);
}

std::string make_models_home(const fs::path& home) {
  const fs::path models = home / "models";
  fs::create_directories(models);
  for (const char* file :
       {"yunet/face_detection_yunet_2022mar.onnx", "scrfd/scrfd_500m_kps.onnx",
        "dlib/shape_predictor_5_face_landmarks.dat",
        "dlib/dlib_face_recognition_resnet_model_v1.dat", "clip/bpe_simple_vocab_16e6.txt.gz"}) {
    const fs::path target = shared_path(std::string("models/") + file);
    const fs::path link = models / target.filename();
    if (fs::exists(target) && !fs::exists(link)) fs::create_symlink(target, link);
  }
  // The TF.js models come from npm (clipface models pull human-models), not from ../shared.
  const fs::path human = models_dir() / "human-models";
  if (fs::is_directory(human) && !fs::exists(models / "human-models")) {
    fs::create_directory_symlink(human, models / "human-models");
  }
  return "CLIPFACE_HOME=" + home.string();
}

void make_people_dir(const fs::path& dir,
                     const std::vector<std::pair<std::string, std::string>>& entries) {
  for (const auto& [person, relative] : entries) {
    const fs::path target = shared_path(relative);
    fs::create_directories(dir / person);
    fs::create_symlink(target, dir / person / target.filename());
  }
}

}  // namespace clipface::testing
