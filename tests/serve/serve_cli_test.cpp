// `clipface serve`, `keys` and `audit` as programs: SIGTERM lets running requests finish and
// leaves a clean gallery; kill -9 during writes loses no acknowledged write; HTTPS; the refusal
// to listen beyond loopback without keys; the keys and audit commands' output and exit codes.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <set>

#include "clipface/api_keys.hpp"
#include "clipface/gallery.hpp"
#include "serve/serve_support.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::body_json;
using testing::file_field;
using testing::photo;
using testing::run_cli;
using testing::ServeProcess;

class ServeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SERVE_DATA(home_.path());
    env_ = {"CLIPFACE_HOME=" + home_.path().string()};
    testing::make_small_gallery(gallery(), people_.path());
  }
  fs::path gallery() const { return tmp_ / "gallery"; }
  std::vector<std::string> serve_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {
        gallery().string(), "--listen", "127.0.0.1:0", "--detector-model",
        testing::shared_path("models/yunet/face_detection_yunet_2022mar.onnx").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  testing::TempDir home_, people_, tmp_;
  std::vector<std::string> env_;
};

httplib::Client client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  c.set_write_timeout(60, 0);
  return c;
}

// The generation the saved index was built for (its stamp's second line).
std::int64_t index_generation(const fs::path& dir) {
  std::ifstream in(dir / kGalleryIndexName);
  std::string magic, header;
  std::getline(in, magic);
  std::getline(in, header);
  const json j = json::parse(header, nullptr, false);
  return j.is_object() ? j.value("generation", std::int64_t(-1)) : -1;
}

// Requests in flight on the server (read from its metrics, less the metrics request itself).
int in_flight(int port) {
  const auto r = client(port).Get("/metrics");
  if (!r) return -1;
  std::smatch m;
  static const std::regex line("clipface_http_requests_in_flight (\\d+)");
  return std::regex_search(r->body, m, line) ? std::stoi(m[1]) - 1 : -1;
}

TEST_F(ServeCliTest, SigtermLetsRunningRequestsFinishAndLeavesACleanGallery) {
  // Embedding waits 100 ms for company, so the requests are sure to be in flight together.
  ServeProcess server(serve_args({"--batch-wait-ms", "100"}), env_, tmp_ / "port");
  const int port = server.wait_listening();
  ASSERT_GT(port, 0) << server.stderr_text();
  // Several requests in flight (writes among them) when the signal arrives.
  std::atomic<int> ok = 0, started = 0;
  std::vector<std::thread> clients;
  const std::vector<std::string> photos = {
      photo("rose_leslie/img1.jpg"), photo("rose_leslie/img2.jpg"), photo("joe_biden/biden.jpg"),
      photo("barack_obama/obama2.jpg")};
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      auto c = client(port);
      ++started;
      const auto r = i < 2 ? c.Post("/api/v1/recognition/faces?subject=rose", file_field(photos[i]))
                           : c.Post("/api/v1/recognition/recognize", file_field(photos[i]));
      if (r && (r->status == 200 || r->status == 201)) ++ok;
    });
  }
  while (started < 4) std::this_thread::yield();
  for (int i = 0; i < 2000 && in_flight(port) < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(in_flight(port), 4);
  server.signal(SIGTERM);
  for (auto& t : clients) t.join();
  const int status = server.wait();
  ASSERT_TRUE(WIFEXITED(status)) << server.stderr_text();
  EXPECT_EQ(WEXITSTATUS(status), 0) << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("stopped (signal 15)"), std::string::npos)
      << server.stderr_text();
  EXPECT_EQ(ok.load(), 4) << "a request in flight was cut off";
  // Nothing half-written: the databases were closed cleanly (their logs folded in and gone),
  // the gallery checks out and its saved index is current (no rebuild).
  for (const char* log : {"gallery.db-wal", "keys.db-wal", "audit.db-wal"}) {
    EXPECT_FALSE(fs::exists(gallery() / log)) << log;
  }
  Gallery g = Gallery::open(gallery(), GalleryMode::read);
  EXPECT_TRUE(g.check_integrity().ok);
  EXPECT_EQ(g.faces("rose").size(), 2u);
  EXPECT_EQ(index_generation(gallery()), g.generation());
}

// kill -9 while clients write, a few times (bench/serve_load --kill-cycles 20 runs it 20
// times): after each restart every acknowledged add is there and the gallery passes its check.
TEST_F(ServeCliTest, KillDashNineDuringWritesLosesNoAcknowledgedWrite) {
  const std::vector<std::string> photos = {
      photo("rose_leslie/img1.jpg"), photo("rose_leslie/img2.jpg"), photo("joe_biden/biden.jpg"),
      photo("kit_harington/john2.jpeg")};
  std::set<std::int64_t> acknowledged;
  std::mt19937 rng(11);
  for (int cycle = 0; cycle < 3; ++cycle) {
    ServeProcess server(serve_args(), env_, tmp_ / "port");
    const int port = server.wait_listening();
    ASSERT_GT(port, 0) << server.stderr_text();
    std::mutex mutex;
    std::atomic<bool> stop = false;
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
      writers.emplace_back([&, w] {
        auto c = client(port);
        for (int i = 0; !stop; ++i) {
          const auto r = c.Post("/api/v1/recognition/faces?subject=w" + std::to_string(w),
                                file_field(photos[(i + w) % photos.size()]));
          if (!r) break;  // the server is gone
          if (r->status == 201) {
            std::lock_guard lock(mutex);
            acknowledged.insert(body_json(r)["face_id"].get<std::int64_t>());
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700 + rng() % 800));
    server.signal(SIGKILL);
    const int status = server.wait();
    stop = true;
    for (auto& t : writers) t.join();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    Gallery g = Gallery::open(gallery());
    const auto report = g.check_integrity();
    ASSERT_TRUE(report.ok) << (report.problems.empty() ? "" : report.problems[0]);
    for (const std::int64_t id : acknowledged)
      ASSERT_TRUE(g.face(id).has_value()) << "lost face " << id;
  }
  EXPECT_GT(acknowledged.size(), 3u);
}

TEST_F(ServeCliTest, ServesHttpsWithACertificate) {
  const fs::path cert = tmp_ / "cert.pem", key = tmp_ / "key.pem";
  const auto made = testing::run_program({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048",
                                          "-nodes", "-keyout", key.string(), "-out", cert.string(),
                                          "-days", "1", "-subj", "/CN=127.0.0.1"});
  if (made.exit_code != 0)
    GTEST_SKIP() << "openssl could not make a test certificate: " << made.err;
  ServeProcess server(serve_args({"--tls-cert", cert.string(), "--tls-key", key.string()}), env_,
                      tmp_ / "port");
  const int port = server.wait_listening();
  ASSERT_GT(port, 0) << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("https://"), std::string::npos);
  httplib::SSLClient tls("127.0.0.1", port);
  tls.enable_server_certificate_verification(false);
  tls.set_read_timeout(60, 0);
  const auto r =
      tls.Post("/api/v1/recognition/recognize", file_field(photo("joe_biden/biden.jpg")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["result"][0]["decision"]["label"], "joe_biden");
  // Plain HTTP to the TLS port gets no answer.
  auto plain = client(port);
  plain.set_read_timeout(5, 0);
  const auto p = plain.Get("/healthz");
  EXPECT_TRUE(!p || p->status != 200);
  server.signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(server.wait()), 0);
}

TEST_F(ServeCliTest, RefusesBeyondLoopbackWithoutKeysAndBadOptions) {
  auto r = run_cli({"serve", gallery().string(), "--listen", "0.0.0.0:0"}, env_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("clipface: error: refusing to listen on 0.0.0.0"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--no-auth"), std::string::npos);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(run_cli({"serve", gallery().string(), "--listen", "nonsense"}, env_).exit_code, 2);
  EXPECT_EQ(run_cli({"serve", gallery().string(), "--listen", "127.0.0.1:99999"}, env_).exit_code,
            2);
  EXPECT_EQ(run_cli({"serve", gallery().string(), "--tls-cert", "x.pem"}, env_).exit_code, 2);
  EXPECT_EQ(run_cli({"serve", gallery().string(), "--max-body", "lots"}, env_).exit_code, 2);
  EXPECT_EQ(run_cli({"serve", (tmp_ / "none").string()}, env_).exit_code, 5);
  // With --no-auth it serves there.
  ServeProcess open(serve_args({"--no-auth"}), env_, tmp_ / "port");
  // (serve_args listens on 127.0.0.1; the flag itself must be accepted and logged.)
  ASSERT_GT(open.wait_listening(), 0) << open.stderr_text();
  EXPECT_NE(open.stderr_text().find("API keys not required"), std::string::npos);
  open.signal(SIGTERM);
  EXPECT_EQ(WEXITSTATUS(open.wait()), 0);
}

TEST_F(ServeCliTest, KeysCommandCreatesListsAndRevokes) {
  auto r = run_cli(
      {"keys", gallery().string(), "create", "--scope", "recognize,manage", "--name", "kiosk"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The key alone on stdout, for scripts: KEY=$(clipface keys G create ...).
  EXPECT_TRUE(std::regex_match(r.out, std::regex("cfk_[0-9a-f]{8}_[0-9a-f]{64}\n"))) << r.out;
  const std::string key = r.out.substr(0, r.out.size() - 1);
  const std::string id = key.substr(4, 8);
  EXPECT_TRUE(KeyStore::open(gallery()).authenticate(key).has_value());
  r = run_cli({"keys", gallery().string(), "list", "--json"});
  ASSERT_EQ(r.exit_code, 0);
  const json list = json::parse(r.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["scopes"], json::array({"recognize", "manage"}));
  EXPECT_EQ(r.out.find(key.substr(13)), std::string::npos);
  r = run_cli({"keys", gallery().string(), "list"});
  EXPECT_NE(r.out.find("kiosk"), std::string::npos);
  EXPECT_EQ(run_cli({"keys", gallery().string(), "revoke", id}).exit_code, 0);
  EXPECT_FALSE(KeyStore::open(gallery()).authenticate(key).has_value());
  r = run_cli({"keys", gallery().string(), "revoke", id});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no valid key"), std::string::npos);
  EXPECT_EQ(run_cli({"keys", gallery().string(), "create", "--scope", "root"}).exit_code, 2);
  EXPECT_EQ(run_cli({"keys", (tmp_ / "none").string(), "list"}).exit_code, 5);
  // A revoked key still counts as "keys exist": the server keeps requiring them.
  EXPECT_TRUE(KeyStore::open(gallery()).any());
}

TEST_F(ServeCliTest, AuditCommandShowsWhoDidWhat) {
  EXPECT_EQ(run_cli({"audit", gallery().string()}).exit_code, 0);  // no log yet: fine
  const std::string key = KeyStore::open(gallery()).create("ops", parse_scopes("all")).secret;
  {
    ServeProcess server(serve_args(), env_, tmp_ / "port");
    const int port = server.wait_listening();
    ASSERT_GT(port, 0) << server.stderr_text();
    auto c = client(port);
    c.set_default_headers({{"x-api-key", key}});
    EXPECT_EQ(
        c.Post("/api/v1/recognition/faces?subject=rose", file_field(photo("rose_leslie/img1.jpg")))
            ->status,
        201);
    EXPECT_EQ(
        c.Post("/api/v1/recognition/recognize", file_field(photo("joe_biden/biden.jpg")))->status,
        200);
    client(port).Get("/api/v1/recognition/subjects");  // no key: 401, audited too
    server.signal(SIGTERM);
    server.wait();
  }
  auto r = run_cli({"audit", gallery().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0]["route"], "/api/v1/recognition/faces");
  EXPECT_EQ(lines[0]["subject"], "rose");
  EXPECT_EQ(lines[0]["key_id"], key.substr(4, 8));
  EXPECT_EQ(lines[1]["subject"], "joe_biden");
  EXPECT_EQ(lines[2]["status"], 401);
  EXPECT_EQ(lines[2]["key_id"], "");
  r = run_cli({"audit", gallery().string(), "--subject", "rose"});
  EXPECT_NE(r.out.find("/api/v1/recognition/faces"), std::string::npos);
  EXPECT_EQ(r.out.find("joe_biden"), std::string::npos);
  r = run_cli({"audit", gallery().string(), "--key", key.substr(4, 8), "--json"});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
}

}  // namespace
}  // namespace clipface
