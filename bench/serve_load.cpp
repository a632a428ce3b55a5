// `clipface serve` under load and faults, as a program on 127.0.0.1 (the real binary, started
// and killed by this one):
//   1. throughput of recognize at 1, 8 and 32 concurrent clients, micro-batching on and off
//      (the baseline: the same server embedding each request on its own, --no-batching);
//   2. 50 clients for 60 s of mixed traffic (80% recognize, 15% add, 5% delete): p50/p95/p99
//      latency per kind, requests/s, no 5xx, and every acknowledged add (not deleted since) in
//      the gallery afterwards, which passes its integrity check;
//   3. kill -9 of the server while clients write, 20 times: after each restart every
//      acknowledged write is there and the gallery passes its integrity check.
//
//   build/bench/serve_load                      # everything, about 6 minutes
//   build/bench/serve_load --levels 1,8 --level-seconds 10 --duration 20 --clients 16 --kill-cycles
//   5
//
// Photos: the 17 photos of face_recognition_examples' people (0.2-3.3 Mpx, read once into memory;
// biden2.jpg shows a second face, so adding it is refused with 400, as it should be); the gallery:
// those six people, with the dlib embedder (or --embedder, e.g. clip-random:ViT-B-32: random
// weights, for speed only). Models come from CLIPFACE_HOME (set-up).
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clipface/gallery.hpp"
#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"

namespace {
using namespace clipface;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

fs::path shared_dir() {
  const char* env = std::getenv("CLIPFACE_SHARED");
  return env && *env ? fs::path(env) : fs::path(CLIPFACE_DEFAULT_SHARED);
}

double load_average() {
  double load[1] = {-1};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `clipface serve` as a child process.
class Serve {
 public:
  Serve(const fs::path& gallery, const std::vector<std::string>& extra, const fs::path& work) {
    fs::create_directories(work);
    const fs::path port_file = work / "port";
    fs::remove(port_file);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<std::string> args = {CLIPFACE_BINARY,    "serve",         gallery.string(),
                                       "--listen",         "127.0.0.1:0",   "--port-file",
                                       port_file.string(), "--connections", "96"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 3000 && port_ <= 0; ++i) {
      std::ifstream in(port_file);
      in >> port_;
      if (port_ <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (port_ <= 0) throw std::runtime_error("clipface serve did not start");
  }
  ~Serve() { stop(SIGTERM); }
  int stop(int sig) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, sig);
    ::waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  int port() const { return port_; }
  // CPU seconds the server has used so far (user + system, all its threads).
  double cpu_seconds() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string f;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14 || i == 15) ticks += std::stod(f);  // utime, stime
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = 0;
};

httplib::Client client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  c.set_write_timeout(120, 0);
  c.set_connection_timeout(30, 0);
  return c;
}

httplib::MultipartFormDataItems upload(const std::string& bytes) {
  return {{"file", bytes, "photo.jpg", "image/jpeg"}};
}

struct Totals {
  std::mutex mutex;
  std::map<std::string, std::vector<double>> latency_ms;  // by kind
  std::map<int, int> statuses;
  int failures = 0;                // no answer at all
  std::map<std::string, int> why;  // failures by httplib error, 4xx by the API's message
  std::set<std::int64_t> added, deleted;
};

enum class Mix { recognize_only, front_door };

// `clients` threads for `seconds`; returns requests/s.
double drive(int port, int clients, double seconds, Mix mix, const std::vector<std::string>& photos,
             Totals& totals) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::atomic<long> done = 0;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      auto c = client(port);
      std::mt19937 rng(1000 + t);
      while (Clock::now() < end) {
        const int dice = mix == Mix::recognize_only ? 0 : static_cast<int>(rng() % 100);
        const std::string& image = photos[rng() % photos.size()];
        const auto t0 = Clock::now();
        std::string kind;
        std::int64_t victim = -1;
        if (dice < 80) {
          kind = "recognize";
        } else if (dice < 95) {
          kind = "add";
        } else {
          kind = "delete";
          std::lock_guard lock(totals.mutex);
          if (!totals.added.empty()) {
            auto it = totals.added.begin();
            std::advance(it, rng() % totals.added.size());
            victim = *it;
            totals.added.erase(it);  // nobody else deletes it meanwhile
          }
        }
        if (kind == "delete" && victim < 0) continue;
        const auto r = [&] {
          if (kind == "recognize") return c.Post("/api/v1/recognition/recognize", upload(image));
          if (kind == "add") {
            return c.Post("/api/v1/recognition/faces?subject=load" + std::to_string(t % 10),
                          upload(image));
          }
          return c.Delete("/api/v1/recognition/faces/" + std::to_string(victim));
        }();
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::lock_guard lock(totals.mutex);
        if (!r) {
          ++totals.failures;
          ++totals.why[kind + ": no answer (" + httplib::to_string(r.error()) + ")"];
          if (victim >= 0) totals.added.insert(victim);
          continue;
        }
        ++totals.statuses[r->status];
        if (r->status >= 400) {
          const auto j = nlohmann::json::parse(r->body, nullptr, false);
          ++totals.why[kind + ": " + std::to_string(r->status) + " " +
                       (j.is_object() ? j.value("message", std::string()) : r->body)];
        }
        totals.latency_ms[kind].push_back(ms);
        if (kind == "add" && r->status == 201) {
          const auto j = nlohmann::json::parse(r->body, nullptr, false);
          if (j.is_object()) totals.added.insert(j["face_id"].get<std::int64_t>());
        } else if (kind == "delete") {
          if (r->status == 200) {
            totals.deleted.insert(victim);
          } else {
            totals.added.insert(victim);
          }
        }
        ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  return done / std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  if (text == "none") return out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> levels = {1, 8, 32};
  double level_seconds = 20;
  int clients = 50;
  double duration = 60;
  int kill_cycles = 20;
  std::string embedder = "dlib";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--levels" && has_value) {
      levels = parse_list(argv[++i]);
    } else if (a == "--level-seconds" && has_value) {
      level_seconds = std::stod(argv[++i]);
    } else if (a == "--clients" && has_value) {
      clients = std::stoi(argv[++i]);
    } else if (a == "--duration" && has_value) {
      duration = std::stod(argv[++i]);
    } else if (a == "--kill-cycles" && has_value) {
      kill_cycles = std::stoi(argv[++i]);
    } else if (a == "--embedder" && has_value) {
      embedder = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: serve_load [--levels 1,8,32] [--level-seconds 20] [--clients 50] "
                   "[--duration 60] [--kill-cycles 20] [--embedder dlib|clip-random:ViT-B-32]\n");
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(
      spdlog::level::warn);  // the gallery's index rebuilds after kill -9 are expected
  const fs::path examples = shared_dir() / "data/faces/named/face_recognition_examples";
  if (!fs::exists(examples)) {
    std::fprintf(stderr, "serve_load: shared data missing: %s\n", examples.c_str());
    return 2;
  }
  const fs::path work =
      fs::temp_directory_path() / ("clipface-serve-load-" + std::to_string(::getpid()));
  fs::create_directories(work / "people");
  std::vector<std::string> photos;
  for (const auto& folder : list_person_folders(examples)) {
    fs::create_directories(work / "people" / folder.filename());
    for (const auto& p : list_images(folder, false)) {
      fs::create_symlink(p, work / "people" / folder.filename() / p.filename());
      photos.push_back(read_file(p));
    }
  }
  const fs::path gallery = work / "gallery";
  const std::string enroll = std::string(CLIPFACE_BINARY) + " enroll --quiet --embedder " +
                             embedder + " " + gallery.string() + " " + (work / "people").string() +
                             " > /dev/null 2>&1";
  if (std::system(enroll.c_str()) != 0 && !fs::exists(gallery / kGalleryDbName)) {
    std::fprintf(stderr, "serve_load: could not enroll the gallery (%s)\n", enroll.c_str());
    return 2;
  }
  std::printf(
      "clipface serve under load: embedder %s, %zu photos, gallery of %zu faces, %u "
      "cores, load average %.2f at start\n\n",
      embedder.c_str(), photos.size(), Gallery::open(gallery, GalleryMode::read).size(),
      std::thread::hardware_concurrency(), load_average());

  // 0. What batching can give at most: the embedder alone, 32 face crops one at a time or at once.
  {
    PipelineOptions po;
    po.embedder = embedder;
    const FacePipeline pipeline(po);
    std::vector<cv::Mat> crops;
    while (crops.size() < 32) {
      for (const auto& bytes : photos) {
        const auto found = pipeline.process(
            decode_image(std::vector<unsigned char>(bytes.begin(), bytes.end()), "photo"));
        for (const auto& c : found.crops) crops.push_back(c);
      }
    }
    crops.resize(32);
    // Alternating, five times each: the machine's other load falls on both alike.
    std::vector<double> one, all;
    for (int r = 0; r < 5; ++r) {
      auto t0 = Clock::now();
      for (const auto& c : crops) pipeline.embedder().embed_crops({c});
      one.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      t0 = Clock::now();
      pipeline.embedder().embed_crops(crops);
      all.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    const double singles = percentile(one, 0.5);
    const double batched = percentile(all, 0.5);
    std::printf(
        "| the embedder alone, 32 face crops | one at a time | one batch | ratio |\n"
        "|---|---|---|---|\n| crops/s (median of 5) | %.1f | %.1f | %.2fx |\n\n",
        32 / singles, 32 / batched, singles / batched);
  }

  // 1. Micro-batching on and off. Both servers run side by side and take turns in slices of
  // level_seconds / 5, so that the machine's other load falls on both alike; medians of slices.
  // Requests per CPU-second of the server do not depend on how much of a shared CPU it gets.
  std::printf(
      "| concurrent clients | requests/s, one at a time (--no-batching) | requests/s, "
      "micro-batched | ratio | requests per CPU-second, one at a time | micro-batched | ratio "
      "|\n|---|---|---|---|---|---|---|\n");
  if (!levels.empty()) {
    Serve one_at_a_time(gallery, {"--no-batching"}, work / "a");
    Serve batched(gallery, {}, work / "b");
    for (const int level : levels) {
      std::vector<double> rates[2], per_cpu[2];
      for (int slice = 0; slice < 6; ++slice) {
        for (int turn = 0; turn < 2; ++turn) {
          const int batching = (slice + turn) % 2;  // alternate who goes first
          Serve& server = batching ? batched : one_at_a_time;
          Totals totals;
          const double seconds = slice == 0 ? 2 : level_seconds / 5;
          const double cpu0 = server.cpu_seconds();
          const auto t0 = Clock::now();
          const double rate =
              drive(server.port(), level, seconds, Mix::recognize_only, photos, totals);
          const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
          const double cpu = server.cpu_seconds() - cpu0;
          if (slice == 0) continue;  // warm-up
          rates[batching].push_back(rate);
          per_cpu[batching].push_back(cpu > 0 ? rate * elapsed / cpu : 0);
        }
      }
      const double off = percentile(rates[0], 0.5), on = percentile(rates[1], 0.5);
      const double off_cpu = percentile(per_cpu[0], 0.5), on_cpu = percentile(per_cpu[1], 0.5);
      std::printf("| %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx |\n", level, off, on, on / off,
                  off_cpu, on_cpu, on_cpu / off_cpu);
      std::fflush(stdout);
    }
  }

  // 2. Mixed traffic (--duration 0 skips it).
  int five_hundreds = 0;
  std::size_t missing = 0, resurrected = 0;
  bool integrity = true;
  if (duration > 0) {
    Totals mixed;
    double rate = 0;
    {
      Serve server(gallery, {}, work);
      rate = drive(server.port(), clients, duration, Mix::front_door, photos, mixed);
    }
    for (const auto& [status, n] : mixed.statuses) five_hundreds += status >= 500 ? n : 0;
    {
      Gallery g = Gallery::open(gallery);
      for (const auto id : mixed.added) missing += g.face(id).has_value() ? 0 : 1;
      for (const auto id : mixed.deleted) resurrected += g.face(id).has_value() ? 1 : 0;
      integrity = g.check_integrity().ok;
    }
    std::printf("\n%d clients, %.0f s, 80%% recognize / 15%% add / 5%% delete: %.2f requests/s\n\n",
                clients, duration, rate);
    std::printf("| request | count | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|\n");
    for (const auto& [kind, v] : mixed.latency_ms) {
      std::printf("| %s | %zu | %.0f | %.0f | %.0f |\n", kind.c_str(), v.size(), percentile(v, 0.5),
                  percentile(v, 0.95), percentile(v, 0.99));
    }
    std::printf("\nstatuses:");
    for (const auto& [status, n] : mixed.statuses) std::printf(" %d x%d", status, n);
    std::printf(
        "; no answer: %d; 5xx: %d; acknowledged adds missing afterwards: %zu of %zu; "
        "deleted faces back: %zu; integrity check: %s\n",
        mixed.failures, five_hundreds, missing, mixed.added.size(), resurrected,
        integrity ? "ok" : "FAILED");
    for (const auto& [what, n] : mixed.why) std::printf("  %dx %s\n", n, what.c_str());
  }

  // 3. kill -9 while writing.
  std::set<std::int64_t> acknowledged;
  std::set<std::int64_t> lost;
  int damaged = 0, killed = 0;
  std::mt19937 rng(5);
  for (int cycle = 0; cycle < kill_cycles; ++cycle) {
    Serve server(gallery, {}, work);
    std::mutex mutex;
    std::atomic<bool> stop = false;
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        auto c = client(server.port());
        for (int i = 0; !stop; ++i) {
          const auto r = c.Post("/api/v1/recognition/faces?subject=kill" + std::to_string(w),
                                upload(photos[(i * 4 + w) % photos.size()]));
          if (!r) break;
          if (r->status != 201) continue;
          const auto j = nlohmann::json::parse(r->body, nullptr, false);
          std::lock_guard lock(mutex);
          if (j.is_object()) acknowledged.insert(j["face_id"].get<std::int64_t>());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + rng() % 1500));
    const int status = server.stop(SIGKILL);
    killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    stop = true;
    for (auto& t : writers) t.join();
    Gallery g = Gallery::open(gallery);
    damaged += g.check_integrity().ok ? 0 : 1;
    for (const auto id : acknowledged) {
      if (!g.face(id)) lost.insert(id);
    }
  }
  std::printf(
      "\nkill -9 during writes: %d cycles (%d killed), %zu acknowledged adds, lost after "
      "restart: %zu, integrity failures: %d\n",
      kill_cycles, killed, acknowledged.size(), lost.size(), damaged);
  std::printf("load average %.2f at the end\n", load_average());
  std::error_code ec;
  fs::remove_all(work, ec);
  const bool ok = five_hundreds == 0 && missing == 0 && resurrected == 0 && integrity &&
                  lost.empty() && damaged == 0;
  return ok ? 0 : 1;
}
