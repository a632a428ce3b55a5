// clipface reembed killed with SIGKILL half-way: the gallery opens, searches with the old model
// and names the same faces as before; `reembed --status` shows the progress; the next run resumes
// where the killed one stopped, switches, and every name is still there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <sstream>
#include <thread>

#include "clipface/gallery.hpp"
#include "support/test_env.hpp"

extern char** environ;

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::json_lines;
using testing::shared_path;

const std::string kExamples = "data/faces/named/face_recognition_examples";

// Starts the CLI in the background (output discarded); returns its pid.
pid_t start_cli(const std::vector<std::string>& args, const std::string& home_entry) {
  std::vector<std::string> argv{CLIPFACE_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env{home_entry};
  for (char** e = environ; *e; ++e) {
    if (std::string(*e).rfind("CLIPFACE_HOME=", 0) != 0) env.emplace_back(*e);
  }
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::map<std::string, std::string> labels(const std::string& out) {
  std::map<std::string, std::string> by_file;
  for (const auto& l : json_lines(out)) {
    by_file[fs::path(l["file"].get<std::string>()).filename().string() + "#" + l["face"].dump()] =
        l["label"];
  }
  return by_file;
}

TEST(ReembedCli, KilledHalfWayKeepsSearchingWithTheOldModelAndResumes) {
  CLIPFACE_REQUIRE_SHARED(kExamples);
  CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat");
  testing::TempDir work;
  const testing::Cli cli;
  const fs::path original = work.path() / "original";
  const auto enrolled = cli({"enroll", original.string(), shared_path(kExamples).string(), "--json",
                             "--allow-skips"});  // biden2.jpg shows two faces
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  const int faces = nlohmann::json::parse(enrolled.out)["faces"];
  ASSERT_GE(faces, 12);
  const std::string group = shared_path(kExamples + "/_group").string();
  const auto named_before = labels(cli({"identify", original.string(), group, "--json"}).out);
  ASSERT_FALSE(named_before.empty());

  // Kill it once a few batches are committed; if the machine was too quick to catch it half-way,
  // try again on a fresh copy.
  fs::path gallery;
  std::size_t done_at_kill = 0;
  for (int attempt = 0; attempt < 6 && done_at_kill == 0; ++attempt) {
    std::string name = "g";
    name += std::to_string(attempt);  // not "g" + ...: GCC 12 warns about it (a false alarm)
    gallery = work.path() / name;
    fs::copy(original, gallery, fs::copy_options::recursive);
    const pid_t pid = start_cli(
        {"reembed", gallery.string(), "--embedder", "dlib", "--flip", "--batch", "1", "--quiet"},
        cli.home_entry());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool killed = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;  // finished before we could
      const ReembedState s = Gallery::open(gallery, GalleryMode::read).reembed_state();
      if (s.active && s.done >= 3) {
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        ::waitpid(pid, &status, 0);
        killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!killed) continue;
    const ReembedState s = Gallery::open(gallery, GalleryMode::read).reembed_state();
    if (s.active && s.done < static_cast<std::size_t>(faces)) done_at_kill = s.done;
  }
  ASSERT_GT(done_at_kill, 0u) << "never caught the re-embedding half-way";

  // Half-way: still the old model, the same names, a clean gallery.
  {
    const Gallery g = Gallery::open(gallery, GalleryMode::read);
    EXPECT_EQ(g.model().crop_style, "dlib-chip");
    EXPECT_TRUE(g.check_integrity().ok);
  }
  EXPECT_EQ(labels(cli({"identify", gallery.string(), group, "--json"}).out), named_before);
  const auto status = cli({"reembed", gallery.string(), "--status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto st = nlohmann::json::parse(status.out);
  EXPECT_EQ(st["active"], true);
  EXPECT_GE(st["done"].get<std::size_t>(), done_at_kill);
  EXPECT_EQ(st["target"]["crop_style"], "dlib-chip+flip");
  // Another model cannot start while this one is unfinished.
  const auto other = cli({"reembed", gallery.string(), "--embedder", "dlib"});
  EXPECT_EQ(other.exit_code, 2) << other.err;  // dlib without flip is the gallery's own model

  // Resumed without naming the model again: it picks up where it stopped and switches.
  const auto resumed = cli({"reembed", gallery.string(), "--json", "--quiet"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto r = nlohmann::json::parse(resumed.out);
  EXPECT_GE(r["done_before"].get<std::size_t>(), done_at_kill);
  EXPECT_EQ(r["faces"], faces);
  EXPECT_EQ(r["switched"], true);
  EXPECT_EQ(r["failed"], 0);
  const Gallery g = Gallery::open(gallery, GalleryMode::read);
  EXPECT_EQ(g.model().crop_style, "dlib-chip+flip");
  EXPECT_EQ(g.size(), static_cast<std::size_t>(faces));
  EXPECT_FALSE(g.reembed_state().active);
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(cli({"people", gallery.string(), "list", "--json"}).out,
            cli({"people", original.string(), "list", "--json"}).out);
  // identify picks the new model (flip) from the gallery and names the same people.
  EXPECT_EQ(labels(cli({"identify", gallery.string(), group, "--json"}).out), named_before);
}

}  // namespace
}  // namespace clipface
