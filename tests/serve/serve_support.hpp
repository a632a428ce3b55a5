// Shared by the serve tests: a small gallery of real photos (dlib embedder), a server running in
// this process on a free loopback port, photos read from ../shared, and a child `clipface serve`
// process for the tests that signal or kill it.
#pragma once

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "clipface/recognizer.hpp"
#include "clipface/serve.hpp"
#include "support/test_env.hpp"

namespace clipface::testing {

inline const std::string kExamples = "data/faces/named/face_recognition_examples/";

inline std::string photo(const std::string& relative) {
  return read_text(shared_path(kExamples + relative));
}

inline PipelineOptions dlib_pipeline() {
  PipelineOptions o;
  o.detector.model = shared_path("models/yunet/face_detection_yunet_2022mar.onnx").string();
  o.embedder = "dlib";
  return o;
}

// Skips unless the photos and the dlib models are there; points CLIPFACE_HOME at their links.
#define CLIPFACE_REQUIRE_SERVE_DATA(home)                                             \
  do {                                                                                \
    CLIPFACE_REQUIRE_SHARED(::clipface::testing::kExamples);                          \
    CLIPFACE_REQUIRE_SHARED("models/dlib/dlib_face_recognition_resnet_model_v1.dat"); \
    CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");        \
    setenv("CLIPFACE_HOME", (home).c_str(), 1);                                       \
    ::clipface::testing::make_models_home(home);                                      \
  } while (0)

// A gallery at `dir` with barack_obama (2 photos), joe_biden and kit_harington (1 each).
inline void make_small_gallery(const std::filesystem::path& dir,
                               const std::filesystem::path& people) {
  make_people_dir(people, {{"barack_obama", kExamples + "barack_obama/obama.jpg"},
                           {"barack_obama", kExamples + "barack_obama/obama1.jpg"},
                           {"joe_biden", kExamples + "joe_biden/biden.jpg"},
                           {"kit_harington", kExamples + "kit_harington/john1.jpeg"}});
  const FacePipeline pipeline(dlib_pipeline());
  Gallery gallery = Gallery::create(dir, pipeline.embedder().info());
  EnrollOptions options;
  options.progress = false;
  enroll_people(gallery, pipeline, list_people(people), options);
}

inline ServeOptions serve_options(const std::filesystem::path& gallery) {
  ServeOptions o;
  o.gallery = gallery;
  o.port = 0;
  o.pipeline = dlib_pipeline();
  o.connections = 16;
  return o;
}

// A server of this process, on a free port, until the object dies (graceful stop).
class RunningServer {
 public:
  explicit RunningServer(const ServeOptions& options) : server_(std::make_unique<Server>(options)) {
    server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~RunningServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }
  int port() const { return server_->port(); }
  Server& server() { return *server_; }
  httplib::Client client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    c.set_write_timeout(60, 0);
    if (!key.empty()) c.set_default_headers({{"x-api-key", key}});
    return c;
  }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

inline httplib::MultipartFormDataItems file_field(const std::string& bytes,
                                                  const std::string& name = "file",
                                                  const std::string& filename = "photo.jpg") {
  return {{name, bytes, filename, "image/jpeg"}};
}

inline nlohmann::json body_json(const httplib::Result& r) {
  if (!r) return nlohmann::json();
  return nlohmann::json::parse(r->body, nullptr, false);
}

// `clipface serve ...` as a child process: started, waited for until it listens, signalled.
class ServeProcess {
 public:
  ServeProcess(const std::vector<std::string>& args, const std::vector<std::string>& env,
               const std::filesystem::path& port_file)
      : port_file_(port_file) {
    std::filesystem::remove(port_file);
    err_path_ = port_file.string() + ".stderr";
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<std::string> argv = {CLIPFACE_BINARY, "serve"};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.insert(argv.end(), {"--port-file", port_file.string()});
      std::vector<char*> raw;
      for (auto& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      const int fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      ::execv(raw[0], raw.data());
      ::_exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  // The port once the server listens (0 when it exited first or took longer than the limit).
  int wait_listening(std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      std::ifstream in(port_file_);
      int port = 0;
      if (in >> port && port > 0) return port;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        status_ = status;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  // The wait status (as waitpid gives it).
  int wait() {
    if (!exited_) {
      ::waitpid(pid_, &status_, 0);
      exited_ = true;
    }
    return status_;
  }
  std::string stderr_text() const { return read_text(err_path_); }

 private:
  std::filesystem::path port_file_;
  std::string err_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

}  // namespace clipface::testing
