// Several processes and sudden death: enrollments land whole or not at all, concurrent writers
// lose nothing, and a read-only gallery is refused without being touched.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/synthetic.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using testing::enrollment;
using testing::random_unit;
using testing::synthetic_model;
using testing::TempDir;

constexpr int kDim = 32;
constexpr int kFacesPerBatch = 4;

// Batch n: three faces of person "<prefix><n>" and one of the person "<prefix>shared", so a
// half-landed batch would show up as a person with too few faces or a shared count that is off.
std::vector<Enrollment> batch(const std::string& prefix, int n) {
  std::mt19937 rng(1000 + n);
  std::vector<Enrollment> faces;
  const std::string person = prefix + std::to_string(n);
  for (int i = 0; i < kFacesPerBatch - 1; ++i) {
    faces.push_back(enrollment(person, random_unit(rng, kDim), person + "-" + std::to_string(i),
                               std::string(2000, char('a' + i))));
  }
  faces.push_back(enrollment(prefix + "shared", random_unit(rng, kDim), person + "-shared"));
  return faces;
}

// Batches present in the gallery, checking each is complete.
std::set<int> batches_present(const Gallery& g, const std::string& prefix) {
  std::set<int> present;
  int shared = 0;
  for (const auto& p : g.people()) {
    if (p.name == prefix + "shared") {
      shared = p.faces;
      continue;
    }
    if (p.name.rfind(prefix, 0) != 0) continue;
    EXPECT_EQ(p.faces, kFacesPerBatch - 1) << "partial batch " << p.name;
    present.insert(std::stoi(p.name.substr(prefix.size())));
  }
  EXPECT_EQ(shared, static_cast<int>(present.size())) << "shared person out of step";
  return present;
}

// Runs `body` in a child process that reports through `write_fd`; never returns in the child.
template <class Body>
pid_t spawn(int fds[2], Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    try {
      body(fds[1]);
    } catch (const std::exception& e) {
      ::dprintf(fds[1], "error %s\n", e.what());
      code = 3;
    }
    ::_exit(code);
  }
  return pid;
}

// Reads from `fd` until a first complete line arrives (or the writer closes it, or 30 s pass),
// so that a kill lands while the child is enrolling however slow the machine is.
std::string first_line(int fd) {
  std::string text;
  char buffer[256];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

std::string drain(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  ::close(fd);
  return text;
}

TEST(GalleryProcesses, SigkillDuringEnrollmentLosesOrHalvesNothing) {
  TempDir tmp;
  const auto dir = tmp / "g";
  const EmbedderInfo model = synthetic_model(kDim);
  { Gallery::create(dir, model); }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay_us(0, 40000);
  std::set<int> reported;  // every batch a child said was committed
  int next = 0;
  int kills = 0;
  int landed_unreported = 0;
  for (int round = 0; round < 25; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const int start = next;
    const pid_t pid = spawn(fds, [&](int out) {
      Gallery g = Gallery::open(dir);
      for (int n = start;; ++n) {
        g.enroll(model, batch("b", n));
        ::dprintf(out, "committed %d\n", n);
        if (n % 4 == 0) g.flush();  // also die while writing the index
      }
    });
    ASSERT_GT(pid, 0);
    ::close(fds[1]);
    // Some rounds die while opening; the others once the child has committed its first batch
    // (so a slow, busy machine still kills mid-enrollment), after a random delay.
    std::string output = round < 3 ? std::string() : first_line(fds[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(round < 3 ? round * 300 : delay_us(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    output += drain(fds[0]);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++kills;
    ASSERT_EQ(output.find("error"), std::string::npos) << output;
    std::istringstream lines(output);
    std::string word;
    int n = 0;
    int expected = start;
    while (lines >> word >> n) {
      ASSERT_EQ(word, "committed");
      ASSERT_EQ(n, expected++);
      reported.insert(n);
    }

    Gallery g = Gallery::open(dir);
    const IntegrityReport report = g.check_integrity();
    ASSERT_TRUE(report.ok) << report.problems.front();
    const std::set<int> present = batches_present(g, "b");
    // Everything reported is there; beyond that at most the one batch whose commit returned but
    // whose report the kill cut off (`expected` = the first batch not reported this round).
    std::set<int> allowed = reported;
    allowed.insert(expected);
    for (int b : reported) EXPECT_TRUE(present.count(b)) << "committed batch " << b << " lost";
    for (int b : present) EXPECT_TRUE(allowed.count(b)) << "batch " << b << " never committed";
    if (present.count(expected)) {
      ++landed_unreported;
      reported.insert(expected);
    }
    EXPECT_EQ(report.faces, present.size() * kFacesPerBatch);
    next = present.empty() ? 0 : *present.rbegin() + 1;
  }
  EXPECT_GE(kills, 20);
  EXPECT_GE(reported.size(), 20u) << "children hardly committed anything; delays too short?";
  // Leftover temporaries of killed writers are cleaned up when the gallery is next opened.
  {
    Gallery g = Gallery::open(dir);
    EXPECT_TRUE(g.check_integrity().ok);
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
  RecordProperty("batches", static_cast<int>(reported.size()));
  RecordProperty("landed_unreported", landed_unreported);
}

TEST(GalleryProcesses, TwoWritersAtOnceLoseNothing) {
  TempDir tmp;
  const auto dir = tmp / "g";
  const EmbedderInfo model = synthetic_model(kDim);
  { Gallery::create(dir, model); }
  constexpr int kBatches = 25;
  std::vector<pid_t> children;
  std::vector<int> outputs;
  for (const std::string prefix : {"x", "y"}) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    children.push_back(spawn(fds, [&](int out) {
      OpenOptions options;
      options.busy_timeout_ms = 20000;
      Gallery g = Gallery::open(dir, options);
      for (int n = 0; n < kBatches; ++n) {
        try {
          g.enroll(model, batch(prefix, n));
          ::dprintf(out, "ok %d\n", n);
        } catch (const GalleryError& e) {
          ::dprintf(out, "busy %d %s\n", n, e.what());
        }
      }
    }));
    ::close(fds[1]);
    outputs.push_back(fds[0]);
  }
  std::map<std::string, std::set<int>> succeeded;
  for (std::size_t i = 0; i < children.size(); ++i) {
    const std::string prefix = i == 0 ? "x" : "y";
    const std::string text = drain(outputs[i]);
    int status = 0;
    ASSERT_EQ(::waitpid(children[i], &status, 0), children[i]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("ok ", 0) == 0) {
        succeeded[prefix].insert(std::stoi(line.substr(3)));
      } else {
        // The only acceptable failure is a clear "gallery busy".
        EXPECT_NE(line.find("gallery busy"), std::string::npos) << line;
      }
    }
  }
  Gallery g = Gallery::open(dir);
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(batches_present(g, "x"), succeeded["x"]);
  EXPECT_EQ(batches_present(g, "y"), succeeded["y"]);
  // With a generous timeout both writers simply wait for each other.
  EXPECT_EQ(succeeded["x"].size() + succeeded["y"].size(), 2u * kBatches);
  EXPECT_EQ(g.size(), 2u * kBatches * kFacesPerBatch);
}

std::string snapshot(const fs::path& dir) {
  std::string all;
  for (const auto& entry : fs::directory_iterator(dir)) {
    all += entry.path().filename().string() + ":" + testing::read_text(entry.path()) + "\n";
  }
  return all;
}

// The checks on a read-only gallery; returns a description of what went wrong ("" = fine).
std::string check_read_only(const fs::path& dir, const EmbedderInfo& model) {
  std::ostringstream failures;
  try {
    Gallery::open(dir);
    failures << "opened for writing; ";
  } catch (const GalleryError& e) {
    if (std::string(e.what()).find("read-only") == std::string::npos) failures << e.what() << "; ";
  }
  try {
    Gallery g = Gallery::open(dir, GalleryMode::read);
    if (g.size() != 2 * kFacesPerBatch) failures << "size " << g.size() << "; ";
    if (!g.check_integrity().ok) failures << "integrity; ";
    try {
      g.enroll(model, batch("r", 9));
      failures << "enrolled; ";
    } catch (const GalleryError&) {
    }
  } catch (const std::exception& e) {
    failures << "read open failed: " << e.what() << "; ";
  }
  return failures.str();
}

TEST(GalleryProcesses, ReadOnlyDirectoryIsRefusedAndUnchanged) {
  TempDir tmp;
  const auto dir = tmp / "g";
  const EmbedderInfo model = synthetic_model(kDim);
  {
    Gallery g = Gallery::create(dir, model);
    g.enroll(model, batch("r", 0));
    g.enroll(model, batch("r", 1));
  }
  const std::string before = snapshot(dir);
  fs::permissions(tmp.path(),
                  fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  for (const auto& entry : fs::directory_iterator(dir)) ::chmod(entry.path().c_str(), 0444);
  ::chmod(dir.c_str(), 0555);
  std::string failures;
  if (::geteuid() != 0) {
    failures = check_read_only(dir, model);
  } else {
    // Root writes through permissions; a child that drops to "nobody" sees the disk as others do.
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = spawn(fds, [&](int out) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
        ::dprintf(out, "skip cannot drop privileges");
        return;
      }
      ::dprintf(out, "%s", check_read_only(dir, model).c_str());
    });
    ::close(fds[1]);
    failures = drain(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (failures.rfind("skip", 0) == 0) GTEST_SKIP() << failures;
  }
  EXPECT_EQ(failures, "");
  ::chmod(dir.c_str(), 0755);
  EXPECT_EQ(snapshot(dir), before);
}

}  // namespace
}  // namespace clipface
