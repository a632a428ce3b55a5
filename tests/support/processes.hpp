// Programs that run beside a test (an ffmpeg stream server, a CLI run to interrupt), a free
// port for them, and a tiny file system that fills up.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace clipface::testing {

// Starts argv[0] (a path, or a name looked up in PATH) with stdout and stderr going to files;
// killed (SIGKILL) and reaped on destruction unless wait() was called.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv,
                             const std::vector<std::string>& extra_env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  bool running();
  void signal(int sig);
  // Waits for the exit (up to `limit`, then SIGKILL); returns the exit code (128 + signal).
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(60));
  std::string out() const;  // what it wrote so far
  std::string err() const;
  pid_t pid() const { return pid_; }

 private:
  TempDir scratch_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_tcp_port();

// Waits until `done()` is true, polling; false after `limit`.
template <typename F>
bool wait_until(F done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    ::usleep(20000);
  }
  return true;
}

// A tmpfs of `bytes` mounted on a fresh folder (needs root; ok() is false otherwise), unmounted
// on destruction.
class TinyDisk {
 public:
  explicit TinyDisk(std::size_t bytes);
  ~TinyDisk();
  TinyDisk(const TinyDisk&) = delete;
  TinyDisk& operator=(const TinyDisk&) = delete;
  bool ok() const { return mounted_; }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
  bool mounted_ = false;
};

}  // namespace clipface::testing
