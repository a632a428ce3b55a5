// `clipface serve` in this process, on real photos with the dlib embedder: CompreFace's API shapes,
// subjects and faces end to end, errors (status, JSON, the server stays up), keys and scopes, the
// audit log without biometric data, the OpenAPI document against the routes, metrics, live
// events, and a short mixed load of concurrent clients.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <regex>
#include <set>

#include "clipface/api_keys.hpp"
#include "clipface/audit_log.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "serve/routes.hpp"
#include "serve/serve_support.hpp"

namespace clipface {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::body_json;
using testing::file_field;
using testing::photo;
using testing::RunningServer;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLIPFACE_REQUIRE_SERVE_DATA(home_.path());
    testing::make_small_gallery(dir(), people_.path());
  }
  fs::path dir() const { return tmp_ / "gallery"; }
  ServeOptions options() const { return testing::serve_options(dir()); }

  testing::TempDir home_, people_, tmp_;
};

// A picture without any face (generated, no photo involved).
std::string blank_png() {
  std::vector<unsigned char> bytes;
  cv::imencode(".png", cv::Mat(240, 320, CV_8UC3, cv::Scalar(90, 120, 150)), bytes);
  return {bytes.begin(), bytes.end()};
}

std::string base64(const std::string& bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // the terminating NUL
  return out;
}

void expect_error(const httplib::Result& r, int status, int code) {
  ASSERT_TRUE(r) << "no answer";
  EXPECT_EQ(r->status, status) << r->body;
  const json j = body_json(r);
  ASSERT_TRUE(j.is_object()) << r->body;
  EXPECT_TRUE(j.contains("message") && j["message"].is_string()) << r->body;
  EXPECT_EQ(j.value("code", -1), code) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

std::string recognized_label(httplib::Client& c, const std::string& image) {
  const auto r = c.Post("/api/v1/recognition/recognize", file_field(image));
  if (!r || r->status != 200) return "(error)";
  return body_json(r)["result"][0]["decision"]["label"];
}

TEST_F(ServeTest, RecognizeAnswersInCompreFacesShapeWithClipfacesDecisionBeside) {
  RunningServer server(options());
  auto c = server.client();
  const auto r = c.Post("/api/v1/recognition/recognize?prediction_count=2&face_plugins=calculator",
                        file_field(photo("barack_obama/obama2.jpg")));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  ASSERT_EQ(j["result"].size(), 1u);
  const json& face = j["result"][0];
  // CompreFace's fields: an integer box with probability, subjects with similarity.
  for (const char* k : {"x_min", "y_min", "x_max", "y_max"})
    EXPECT_TRUE(face["box"][k].is_number_integer()) << k;
  EXPECT_GT(face["box"]["probability"].get<double>(), 0.9);
  EXPECT_LT(face["box"]["x_min"].get<int>(), face["box"]["x_max"].get<int>());
  ASSERT_EQ(face["subjects"].size(), 2u);
  EXPECT_EQ(face["subjects"][0]["subject"], "barack_obama");
  EXPECT_GT(face["subjects"][0]["similarity"].get<double>(),
            face["subjects"][1]["similarity"].get<double>());
  EXPECT_EQ(face["landmarks"].size(), 5u);
  EXPECT_EQ(face["embedding"].size(), 128u);  // the calculator plugin
  // clipface's own, beside them.
  EXPECT_EQ(face["decision"]["label"], "barack_obama");
  EXPECT_TRUE(face["decision"]["known"].get<bool>());
  EXPECT_GE(face["decision"]["votes"].get<int>(), 1);
  EXPECT_EQ(j["embedder"]["name"], "dlib-resnet-v1");
  EXPECT_EQ(j["embedder"]["checksum"].get<std::string>().size(), 64u);

  // Base64 JSON works the same; limit keeps the largest faces; a stranger is Unknown.
  const auto b = c.Post("/api/v1/recognition/recognize?limit=1",
                        json{{"file", base64(photo("_group/obama_and_biden.jpg"))}}.dump(),
                        "application/json");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(body_json(b)["result"].size(), 1u);
  EXPECT_EQ(recognized_label(c, photo("rose_leslie/img1.jpg")), "Unknown");
  // A vote threshold of 0 names nobody.
  const auto strict = c.Post("/api/v1/recognition/recognize?threshold=0",
                             file_field(photo("barack_obama/obama2.jpg")));
  EXPECT_EQ(body_json(strict)["result"][0]["decision"]["label"], "Unknown");
  // status=true adds which models ran.
  const auto st =
      c.Post("/api/v1/detection/detect?status=true", file_field(photo("joe_biden/biden.jpg")));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
  EXPECT_TRUE(body_json(st)["plugins_versions"].contains("detector"));
}

TEST_F(ServeTest, SubjectsAndFacesEndToEnd) {
  RunningServer server(options());
  auto c = server.client();
  // Create a subject without faces, then add faces by multipart and by base64.
  auto r = c.Post("/api/v1/recognition/subjects", R"({"subject":"rose"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  expect_error(c.Post("/api/v1/recognition/subjects", R"({"subject":"rose"})", "application/json"),
               409, 104);
  r = c.Post("/api/v1/recognition/faces?subject=rose", file_field(photo("rose_leslie/img1.jpg")));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string first = body_json(r)["image_id"];
  EXPECT_EQ(body_json(r)["subject"], "rose");
  r = c.Post(
      "/api/v1/recognition/faces?subject=rose&det_prob_threshold=0.8",
      json{{"file", "data:image/jpeg;base64," + base64(photo("rose_leslie/img2.jpg"))}}.dump(),
      "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string second = body_json(r)["image_id"];
  // Answered means searchable: the next request sees the face.
  EXPECT_EQ(recognized_label(c, photo("rose_leslie/img2.jpg")), "rose");

  // Pages of faces, all or one subject's.
  r = c.Get("/api/v1/recognition/faces?size=2&page=0");
  json page = body_json(r);
  EXPECT_EQ(page["total_elements"], 6);
  EXPECT_EQ(page["total_pages"], 3);
  EXPECT_EQ(page["faces"].size(), 2u);
  r = c.Get("/api/v1/recognition/faces?subject=rose");
  page = body_json(r);
  ASSERT_EQ(page["faces"].size(), 2u);
  EXPECT_EQ(page["faces"][0]["image_id"], first);
  expect_error(c.Get("/api/v1/recognition/faces?subject=nobody"), 404, 103);
  // The stored crop.
  r = c.Get("/api/v1/recognition/faces/" + first + "/img");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.substr(1, 3), "PNG");
  expect_error(c.Get("/api/v1/recognition/faces/999999/img"), 404, 11);

  // Rename, then rename onto an existing subject: a merge.
  r = c.Put("/api/v1/recognition/subjects/rose", R"({"subject":"rose_leslie"})",
            "application/json");
  EXPECT_EQ(body_json(r)["updated"], true);
  EXPECT_EQ(body_json(r)["merged"], false);
  EXPECT_EQ(recognized_label(c, photo("rose_leslie/img2.jpg")), "rose_leslie");
  r = c.Put("/api/v1/recognition/subjects/kit_harington", R"({"subject":"rose_leslie"})",
            "application/json");
  EXPECT_EQ(body_json(r)["merged"], true);
  EXPECT_EQ(body_json(c.Get("/api/v1/recognition/faces?subject=rose_leslie"))["total_elements"], 3);
  expect_error(c.Get("/api/v1/recognition/faces?subject=kit_harington"), 404, 103);
  expect_error(
      c.Put("/api/v1/recognition/subjects/nobody", R"({"subject":"x"})", "application/json"), 404,
      103);
  r = c.Get("/api/v1/recognition/subjects");
  EXPECT_EQ(body_json(r)["subjects"], json::array({"barack_obama", "joe_biden", "rose_leslie"}));

  // Delete one face by id, several by a list (unknown ids ignored), a subject's faces.
  r = c.Delete("/api/v1/recognition/faces/" + first);
  EXPECT_EQ(body_json(r)["subject"], "rose_leslie");
  expect_error(c.Delete("/api/v1/recognition/faces/" + first), 404, 11);
  r = c.Post("/api/v1/recognition/faces/delete", json::array({second, "424242", "x"}).dump(),
             "application/json");
  ASSERT_EQ(body_json(r).size(), 1u);
  EXPECT_EQ(body_json(r)[0]["image_id"], second);
  r = c.Delete("/api/v1/recognition/faces?subject=rose_leslie");
  EXPECT_EQ(body_json(r)["deleted"], 1);  // kit's merged face
  // The subject stays, without faces; deleting it is a 200, then a 404.
  r = c.Delete("/api/v1/recognition/subjects/rose_leslie");
  EXPECT_EQ(r->status, 200);
  expect_error(c.Delete("/api/v1/recognition/subjects/rose_leslie"), 404, 103);
  EXPECT_EQ(recognized_label(c, photo("kit_harington/john1.jpeg")), "Unknown");

  // Delete everyone.
  r = c.Delete("/api/v1/recognition/subjects");
  EXPECT_EQ(body_json(r)["deleted"], 2);
  EXPECT_EQ(recognized_label(c, photo("barack_obama/obama2.jpg")), "Unknown");
  server.stop();
  EXPECT_TRUE(Gallery::open(dir()).check_integrity().ok);
}

TEST_F(ServeTest, VerifyTwoImagesOrAnImageAgainstASubject) {
  RunningServer server(options());
  auto c = server.client();
  httplib::MultipartFormDataItems two = {
      {"source_image", photo("barack_obama/obama2.jpg"), "a.jpg", "image/jpeg"},
      {"target_image", photo("_group/obama_and_biden.jpg"), "b.jpg", "image/jpeg"}};
  auto r = c.Post("/api/v1/verification/verify", two);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json matches = body_json(r)["result"][0]["face_matches"];
  ASSERT_GE(matches.size(), 2u);
  int same = 0;
  for (const auto& m : matches) same += m["same"].get<bool>();
  EXPECT_EQ(same, 1);  // Obama is one of the faces of the group photo
  EXPECT_TRUE(body_json(r)["result"][0]["source_image_face"].contains("box"));

  r = c.Post("/api/v1/verification/verify?subject=barack_obama",
             file_field(photo("barack_obama/obama3.jpg")));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(body_json(r)["result"][0]["verdict"]["same"].get<bool>());
  EXPECT_EQ(body_json(r)["result"][0]["face_matches"].size(), 2u);
  r = c.Post("/api/v1/verification/verify?subject=joe_biden",
             file_field(photo("barack_obama/obama3.jpg")));
  EXPECT_FALSE(body_json(r)["result"][0]["verdict"]["same"].get<bool>());
  expect_error(c.Post("/api/v1/verification/verify?subject=nobody",
                      file_field(photo("barack_obama/obama3.jpg"))),
               404, 103);
  expect_error(c.Post("/api/v1/verification/verify",
                      file_field(photo("barack_obama/obama3.jpg"), "source_image")),
               400, 33);  // no target_image
}

// Bad requests get a clear 4xx in JSON, change nothing, and the server keeps serving.
TEST_F(ServeTest, BadRequestsAreClearErrorsAndTheServerStaysUp) {
  ServeOptions o = options();
  o.max_body_bytes = 1 << 20;
  RunningServer server(o);
  auto c = server.client();
  const std::string before = testing::read_text(dir() / kGalleryDbName);
  // No face: 400, code 28 (CompreFace's); several faces where one is wanted: 31.
  expect_error(
      c.Post("/api/v1/recognition/recognize", file_field(blank_png(), "file", "blank.png")), 400,
      28);
  expect_error(c.Post("/api/v1/recognition/faces?subject=x", file_field(blank_png())), 400, 28);
  expect_error(c.Post("/api/v1/recognition/faces?subject=x",
                      file_field(photo("_group/obama_and_biden.jpg"))),
               400, 31);
  // Missing parts, wrong types, not an image, bad base64, bad parameters.
  expect_error(c.Post("/api/v1/recognition/faces", file_field(photo("joe_biden/biden.jpg"))), 400,
               33);
  expect_error(
      c.Post("/api/v1/recognition/recognize", file_field(photo("joe_biden/biden.jpg"), "image")),
      400, 33);
  expect_error(c.Post("/api/v1/recognition/recognize", "hello", "text/plain"), 415, 106);
  expect_error(
      c.Post("/api/v1/recognition/recognize", file_field("just some text", "file", "a.txt")), 415,
      21);
  expect_error(c.Post("/api/v1/recognition/recognize", R"({"file":"@@@"})", "application/json"),
               400, 26);
  expect_error(c.Post("/api/v1/recognition/recognize", "{not json", "application/json"), 400, 26);
  const std::string jpeg = photo("joe_biden/biden.jpg");
  expect_error(c.Post("/api/v1/recognition/recognize", file_field(jpeg.substr(0, jpeg.size() / 2))),
               400, 21);
  expect_error(c.Post("/api/v1/recognition/recognize?limit=-1", file_field(jpeg)), 400, 26);
  expect_error(c.Post("/api/v1/recognition/recognize?det_prob_threshold=abc", file_field(jpeg)),
               400, 26);
  // Too large (the limit is 1 MB here): 413 from the headers, and the connection ends there, so
  // a client still sending may see its write fail instead (the raw-socket test reads the 413).
  if (const auto big =
          c.Post("/api/v1/recognition/recognize", file_field(std::string(1500000, 'x')))) {
    expect_error(big, 413, 105);
  }
  // Unknown routes and files; path traversal never reaches a file.
  expect_error(c.Get("/api/v1/nothing"), 404, 108);
  for (const std::string path :
       {"/ui/../../../../etc/passwd", "/ui/..%2f..%2fetc%2fpasswd", "/ui/%2e%2e/gallery.db",
        "/ui/.hidden", "/../gallery.db", "/ui/app.js/../../keys.db", "/ui/%252e%252e%252fetc"}) {
    const auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(r->body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(r->body.find("SQLite"), std::string::npos) << path;
  }
  EXPECT_EQ(c.Get("/ui/app.js")->status, 200);
  // Nothing changed; still serving.
  EXPECT_EQ(testing::read_text(dir() / kGalleryDbName), before);
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  EXPECT_EQ(recognized_label(c, jpeg), "joe_biden");
}

// Raw sockets for what clients should not do: announce 100 MB, stop half-way, trickle headers.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { ::close(fd_); }
  bool send(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // One answer: the headers, then Content-Length bytes of body.
  std::string receive_response() {
    std::string out;
    char buf[4096];
    for (;;) {
      const auto head_end = out.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const auto cl = out.find("Content-Length: ");
        const std::size_t length =
            cl == std::string::npos || cl > head_end ? 0 : std::stoul(out.substr(cl + 16));
        if (out.size() >= head_end + 4 + length) return out;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Everything until the server closes (or the receive timeout).
  std::string receive_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  bool connected() const { return connected_; }

 private:
  int fd_;
  bool connected_ = false;
};

TEST_F(ServeTest, HugeTruncatedMalformedAndSlowRequestsAreRefusedWithoutHarm) {
  ServeOptions o = options();
  o.read_timeout_s = 1;
  RunningServer server(o);
  {
    // 100 MB announced, 64 KB sent: 413 comes back from the headers, the rest is never read.
    RawClient raw(server.port());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(
        raw.send("POST /api/v1/recognition/recognize HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: multipart/form-data; boundary=b\r\n"
                 "Content-Length: 104857600\r\n\r\n" +
                 std::string(65536, 'x')));
    const auto start = std::chrono::steady_clock::now();
    const std::string answer = raw.receive_all();
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
    EXPECT_NE(answer.find("\"code\":105"), std::string::npos);
    EXPECT_NE(answer.find("Connection: close"), std::string::npos);
    // ...and the server ended the connection at once instead of reading on (its keep-alive wait
    // alone would be 5 s).
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    // Sending the rest now fails or goes nowhere; the server is fine.
    raw.send(std::string(1 << 20, 'x'));
  }
  {
    // Expect: 100-continue with a huge body: refused before the client sends it.
    RawClient raw(server.port());
    ASSERT_TRUE(
        raw.send("POST /api/v1/recognition/faces?subject=a HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: multipart/form-data; boundary=b\r\n"
                 "Expect: 100-continue\r\nContent-Length: 104857600\r\n\r\n"));
    EXPECT_EQ(raw.receive_all().rfind("HTTP/1.1 413", 0), 0u);
  }
  {
    // A chunked upload has no length to refuse it by: it is cut off once it passes the limit.
    RawClient raw(server.port());
    std::string chunk(1 << 16, 'y');
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    ASSERT_TRUE(
        raw.send("POST /api/v1/recognition/recognize HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
    for (int i = 0; i < 100 && raw.send(size + chunk + "\r\n"); ++i) {
    }
    EXPECT_EQ(raw.receive_all().rfind("HTTP/1.1 413", 0), 0u);
  }
  {
    // Truncated: the body ends early and the client waits; the read times out: 400.
    RawClient raw(server.port());
    const std::string body =
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n";
    ASSERT_TRUE(
        raw.send("POST /api/v1/recognition/recognize HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n" +
                 body));
    const std::string answer = raw.receive_all();
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << "[" << answer << "]";
  }
  {
    // Malformed multipart (no closing boundary, garbage).
    RawClient raw(server.port());
    const std::string body = "this is not multipart at all";
    ASSERT_TRUE(
        raw.send("POST /api/v1/recognition/recognize HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body));
    const std::string answer = raw.receive_all();
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  }
  {
    // A slow client (headers never finished) is cut off after the read timeout, while others
    // are served meanwhile.
    RawClient slow(server.port());
    ASSERT_TRUE(slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
    auto c = server.client();
    EXPECT_EQ(c.Get("/healthz")->status, 200);
    const auto start = std::chrono::steady_clock::now();
    slow.receive_all();  // returns when the server closes
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  }
  auto c = server.client();
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  EXPECT_EQ(recognized_label(c, photo("joe_biden/biden.jpg")), "joe_biden");
}

TEST_F(ServeTest, KeysAndScopes) {
  std::string recognize_key, manage_key, admin_key;
  {
    KeyStore keys = KeyStore::open(dir());
    recognize_key = keys.create("kiosk", parse_scopes("recognize")).secret;
    manage_key = keys.create("enroll", parse_scopes("recognize,manage")).secret;
    admin_key = keys.create("admin", parse_scopes("all")).secret;
  }
  RunningServer server(options());
  EXPECT_TRUE(server.server().auth_required());
  auto anonymous = server.client();
  auto kiosk = server.client(recognize_key);
  auto enroller = server.client(manage_key);
  auto admin = server.client(admin_key);
  const std::string jpeg = photo("joe_biden/biden.jpg");
  expect_error(anonymous.Post("/api/v1/recognition/recognize", file_field(jpeg)), 401, 101);
  std::string forged_key = recognize_key;
  forged_key.back() = forged_key.back() == '0' ? '1' : '0';
  auto forged = server.client(forged_key);
  if (forged.Get("/api/v1/recognition/subjects")->status != 401)
    ADD_FAILURE() << "forged key accepted";
  expect_error(server.client("nonsense").Get("/api/v1/recognition/subjects"), 401, 101);
  EXPECT_EQ(recognized_label(kiosk, jpeg), "joe_biden");
  expect_error(kiosk.Post("/api/v1/recognition/faces?subject=x", file_field(jpeg)), 403, 102);
  expect_error(kiosk.Get("/api/v1/keys"), 403, 102);
  EXPECT_EQ(enroller
                .Post("/api/v1/recognition/faces?subject=alex",
                      file_field(photo("alex_lacamoire/alex_lacamoire1.jpg")))
                ->status,
            201);
  expect_error(enroller.Get("/api/v1/keys"), 403, 102);
  // Open routes need no key.
  EXPECT_EQ(anonymous.Get("/healthz")->status, 200);
  EXPECT_EQ(body_json(anonymous.Get("/api/v1/info"))["auth_required"], true);
  EXPECT_FALSE(body_json(anonymous.Get("/api/v1/info")).contains("embedder"));  // only with a key
  EXPECT_EQ(body_json(kiosk.Get("/api/v1/info"))["embedder"]["name"], "dlib-resnet-v1");

  // Keys over HTTP (admin): created with their secret shown once, listed without, revoked.
  auto r =
      admin.Post("/api/v1/keys", R"({"name":"door","scopes":["recognize"]})", "application/json");
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string door = body_json(r)["key"];
  const std::string door_id = body_json(r)["id"];
  EXPECT_TRUE(std::regex_match(door, std::regex("cfk_[0-9a-f]{8}_[0-9a-f]{64}")));
  auto door_client = server.client(door);
  EXPECT_EQ(recognized_label(door_client, jpeg), "joe_biden");
  r = admin.Get("/api/v1/keys");
  EXPECT_EQ(body_json(r)["keys"].size(), 4u);
  EXPECT_EQ(r->body.find(door.substr(13)), std::string::npos);  // no secret in lists
  expect_error(admin.Post("/api/v1/keys", R"({"scopes":["root"]})", "application/json"), 400, 26);
  EXPECT_EQ(admin.Delete("/api/v1/keys/" + door_id)->status, 200);
  expect_error(admin.Delete("/api/v1/keys/" + door_id), 404, 109);
  expect_error(server.client(door).Get("/api/v1/recognition/subjects"), 401, 101);
  // Live streams take the key as a parameter too (EventSource cannot send headers).
  EXPECT_EQ(anonymous.Get("/api/v1/events")->status, 401);

  // The key file holds hashes, never the secrets.
  const std::string keys_db =
      testing::read_text(dir() / kKeysDbName) +
      (fs::exists(dir() / "keys.db-wal") ? testing::read_text(dir() / "keys.db-wal") : "");
  for (const auto& k : {recognize_key, manage_key, admin_key, door}) {
    EXPECT_EQ(keys_db.find(k.substr(13)), std::string::npos);
  }
}

TEST_F(ServeTest, RefusesToListenBeyondLoopbackWithoutKeysUnlessTold) {
  ServeOptions o = options();
  o.host = "0.0.0.0";
  try {
    Server s(o);
    ADD_FAILURE() << "listened beyond loopback without keys";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--no-auth"), std::string::npos) << e.what();
  }
  o.no_auth = true;
  EXPECT_NO_THROW(Server s(o));
  o.no_auth = false;
  KeyStore::open(dir()).create("k", {Scope::recognize});
  EXPECT_NO_THROW(Server s(o));
  // TLS needs both files, and real ones.
  o = options();
  o.tls_cert = dir() / "nope.pem";
  EXPECT_THROW(Server s(o), InputError);
  o.tls_key = dir() / kGalleryDbName;
  o.tls_cert = dir() / kGalleryDbName;
  EXPECT_THROW(Server s(o), InputError);
}

std::string all_bytes(const fs::path& dir) {
  std::string bytes;
  for (const auto& entry : fs::directory_iterator(dir)) bytes += testing::read_text(entry.path());
  return bytes;
}

bool contains(const std::string& haystack, const void* needle, std::size_t n) {
  return std::search(haystack.begin(), haystack.end(), static_cast<const char*>(needle),
                     static_cast<const char*>(needle) + n) != haystack.end();
}

// Every write and search is in the audit log; deleting a person leaves the log, and no trace of
// their face anywhere in the gallery folder.
TEST_F(ServeTest, AuditLogsEverythingAndKeepsNoBiometricData) {
  const std::string key = KeyStore::open(dir()).create("ops", parse_scopes("all")).secret;
  const std::string key_id = key.substr(4, 8);
  RunningServer server(options());
  auto c = server.client(key);
  auto r =
      c.Post("/api/v1/recognition/faces?subject=rose", file_field(photo("rose_leslie/img1.jpg")));
  ASSERT_EQ(r->status, 201);
  const std::string id = body_json(r)["image_id"];
  EXPECT_EQ(recognized_label(c, photo("rose_leslie/img2.jpg")), "rose");
  const std::string crop = c.Get("/api/v1/recognition/faces/" + id + "/img")->body;
  Matrix vector;
  {
    const Gallery reader = Gallery::open(dir(), GalleryMode::read);
    vector = reader.person_embeddings("rose");
  }
  ASSERT_EQ(vector.rows, 1u);
  const std::size_t bytes = vector.cols * sizeof(float);
  EXPECT_TRUE(contains(all_bytes(dir()), vector.data.data(), bytes));
  EXPECT_EQ(c.Delete("/api/v1/recognition/subjects/rose")->status, 200);
  server.stop();

  const std::string everything = all_bytes(dir());
  EXPECT_FALSE(contains(everything, vector.data.data(), bytes)) << "the embedding survived";
  EXPECT_FALSE(contains(everything, crop.data(), crop.size())) << "the crop survived";
  const AuditLog log = AuditLog::open(dir(), false);
  AuditQuery q;
  q.subject = "rose";
  const auto entries = log.query(q);
  ASSERT_EQ(entries.size(), 3u);  // added, recognized, deleted
  EXPECT_EQ(entries[0].route, "/api/v1/recognition/faces");
  EXPECT_EQ(entries[0].method, "POST");
  EXPECT_EQ(entries[0].status, 201);
  EXPECT_EQ(entries[0].key_id, key_id);
  EXPECT_EQ(entries[1].route, "/api/v1/recognition/recognize");
  EXPECT_EQ(entries[2].route, "/api/v1/recognition/subjects/{subject}");
  EXPECT_EQ(entries[2].faces, 1);
  EXPECT_EQ(entries[2].outcome, "ok");
  EXPECT_FALSE(entries[2].time.empty());
  EXPECT_EQ(log.query({}).size(), 4u);  // and the crop download
}

// Every route served is in /openapi.json and every route there is served (not the router's 404).
TEST_F(ServeTest, OpenApiDocumentDescribesExactlyTheServedRoutes) {
  RunningServer server(options());
  auto c = server.client();
  const auto r = c.Get("/openapi.json");
  ASSERT_EQ(r->status, 200);
  const json doc = body_json(r);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::pair<std::string, std::string>> described;
  for (const auto& [path, methods] : doc["paths"].items()) {
    for (const auto& [method, op] : methods.items()) {
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(), ::toupper);
      described.insert({m, path});
      EXPECT_TRUE(op.contains("responses")) << m << " " << path;
    }
  }
  serve_detail::Service service(options());
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : serve_detail::all_routes(service)) {
    served.insert({route.method, route.path});
    // The scope the document states is the one the route asks for.
    std::string lower = route.method;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const json& op = doc["paths"][route.path][lower];
    EXPECT_EQ(op.value("x-clipface-scope", std::string()),
              route.scope ? to_string(*route.scope) : "")
        << route.method << " " << route.path;
  }
  EXPECT_EQ(described, served);
  // And over HTTP, every described route exists (whatever else it answers to an empty request).
  for (const auto& [method, path] : described) {
    const std::string concrete = std::regex_replace(path, std::regex(R"(\{[a-z_]+\})"), "1");
    if (concrete == "/api/v1/events" || concrete == "/api/v1/preview") continue;  // streams
    httplib::Result res = method == "GET"      ? c.Get(concrete)
                          : method == "DELETE" ? c.Delete(concrete)
                          : method == "PUT"    ? c.Put(concrete, "{}", "application/json")
                                               : c.Post(concrete, "{}", "application/json");
    ASSERT_TRUE(res) << method << " " << concrete;
    const json answer = body_json(res);
    if (answer.is_object()) {
      EXPECT_NE(answer.value("code", 0), 108) << method << " " << concrete << ": " << res->body;
    }
  }
}

TEST_F(ServeTest, MetricsCountRequestsLatencyAndGallery) {
  RunningServer server(options());
  auto c = server.client();
  for (int i = 0; i < 3; ++i) recognized_label(c, photo("joe_biden/biden.jpg"));
  c.Post("/api/v1/recognition/recognize", file_field(blank_png()));
  const auto r = c.Get("/metrics");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  const std::string m = r->body;
  EXPECT_NE(
      m.find(
          R"(clipface_http_requests_total{route="/api/v1/recognition/recognize",method="POST",status="200"} 3)"),
      std::string::npos)
      << m;
  EXPECT_NE(
      m.find(
          R"(clipface_http_requests_total{route="/api/v1/recognition/recognize",method="POST",status="400"} 1)"),
      std::string::npos);
  EXPECT_NE(
      m.find(
          R"(clipface_http_request_duration_seconds_count{route="/api/v1/recognition/recognize"} 4)"),
      std::string::npos);
  EXPECT_NE(
      m.find(
          R"(clipface_http_request_duration_seconds_bucket{route="/api/v1/recognition/recognize",le="+Inf"} 4)"),
      std::string::npos);
  EXPECT_NE(m.find("clipface_gallery_faces 4\n"), std::string::npos);
  EXPECT_NE(m.find("clipface_gallery_people 3\n"), std::string::npos);
  EXPECT_NE(m.find("clipface_embed_queue_depth 0\n"), std::string::npos);
  EXPECT_NE(m.find("# TYPE clipface_embed_batch_size histogram"), std::string::npos);
  EXPECT_EQ(body_json(c.Get("/readyz"))["status"], "ready");
}

// Recognize results are live events (SSE), and the annotated pictures an MJPEG preview.
// A face below the quality bar `clipface enroll` holds photos to is refused the same way (400),
// and nothing is added.
TEST_F(ServeTest, AddingABlurredFaceIsRefusedAsEnrollWouldRefuseIt) {
  RunningServer server(options());
  auto c = server.client();
  const cv::Mat sharp =
      load_image(testing::shared_path(testing::kExamples + "barack_obama/obama2.jpg"));
  cv::Mat blurred;
  cv::GaussianBlur(sharp, blurred, cv::Size(0, 0), 15);
  std::vector<unsigned char> jpeg;
  cv::imencode(".jpg", blurred, jpeg);
  const auto before = body_json(c.Get("/api/v1/recognition/faces"))["total_elements"].get<int>();
  const auto r = c.Post("/api/v1/recognition/faces?subject=barack_obama",
                        file_field(std::string(jpeg.begin(), jpeg.end())));
  expect_error(r, 400, 26);
  EXPECT_NE(r->body.find("low quality"), std::string::npos) << r->body;
  EXPECT_EQ(body_json(c.Get("/api/v1/recognition/faces"))["total_elements"].get<int>(), before);
}

TEST_F(ServeTest, RecognitionsStreamAsEventsAndPreviewFrames) {
  RunningServer server(options());
  std::mutex mutex;
  std::string events, preview;
  std::atomic<bool> stop = false;
  auto stream = [&](const std::string& path, std::string& into) {
    return std::thread([&, path] {
      auto c = server.client();
      c.Get(path.c_str(), [&](const char* data, std::size_t n) {
        std::lock_guard lock(mutex);
        into.append(data, n);
        return !stop.load();
      });
    });
  };
  auto e = stream("/api/v1/events", events);
  auto p = stream("/api/v1/preview?source=api", preview);
  auto c = server.client();
  // Wait until both streams are open (the server counts its subscribers and viewers).
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(mutex);
      if (events.find(": connected") != std::string::npos) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(recognized_label(c, photo("barack_obama/obama2.jpg")), "barack_obama");
  for (int i = 0; i < 250; ++i) {
    {
      std::lock_guard lock(mutex);
      if (events.find("barack_obama") != std::string::npos &&
          preview.find("\xff\xd8") != std::string::npos) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(mutex);
    EXPECT_NE(events.find("event: recognition"), std::string::npos) << events;
    EXPECT_NE(events.find("\"label\":\"barack_obama\""), std::string::npos) << events;
    EXPECT_EQ(events.find("embedding"), std::string::npos);  // no biometric data in events
    EXPECT_NE(preview.find("Content-Type: image/jpeg"), std::string::npos);
    EXPECT_NE(preview.find("\xff\xd8"), std::string::npos);  // a JPEG frame
  }
  stop = true;
  server.stop();  // ends the streams
  e.join();
  p.join();
}

// The seam for the video pipeline: a producer outside the REST API (a camera's tracker) publishes
// through Server::live_events(); its events reach /api/v1/events and its frames the preview of its
// source, and it is told when someone watches that preview.
TEST_F(ServeTest, AnOutsideProducerFeedsTheEventsAndItsSourcesPreview) {
  const cv::Mat frame =
      load_image(testing::shared_path(testing::kExamples + "barack_obama/obama2.jpg"));
  RunningServer server(options());
  LiveEventSink& sink = server.server().live_events();
  EXPECT_FALSE(sink.wants_frames("door"));
  std::mutex mutex;
  std::string events, preview;
  std::atomic<bool> stop = false;
  auto stream = [&](const std::string& path, std::string& into) {
    return std::thread([&, path] {
      auto c = server.client();
      c.Get(path.c_str(), [&](const char* data, std::size_t n) {
        std::lock_guard lock(mutex);
        into.append(data, n);
        return !stop.load();
      });
    });
  };
  auto e = stream("/api/v1/events", events);
  auto p = stream("/api/v1/preview?source=door", preview);
  for (int i = 0; i < 250 && !sink.wants_frames("door"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(sink.wants_frames("door"));  // the viewer above is counted
  for (int i = 0; i < 250; ++i) {
    {
      std::lock_guard lock(mutex);
      if (events.find(": connected") != std::string::npos) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sink.publish({"track", "door", R"({"track":7,"label":"barack_obama","score":0.91})"});
  sink.publish_frame("door", frame);
  for (int i = 0; i < 250; ++i) {
    {
      std::lock_guard lock(mutex);
      if (events.find("\"track\":7") != std::string::npos &&
          preview.find("\xff\xd8") != std::string::npos) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(mutex);
    EXPECT_NE(events.find("event: track"), std::string::npos) << events;
    EXPECT_NE(events.find("\"label\":\"barack_obama\""), std::string::npos) << events;
    EXPECT_NE(preview.find("Content-Type: image/jpeg"), std::string::npos);
    EXPECT_NE(preview.find("\xff\xd8"), std::string::npos);  // the frame, as JPEG
  }
  stop = true;
  server.stop();
  e.join();
  p.join();
}

// Several clients at once, mixed like a front door (mostly recognize, some adds, a few deletes):
// no 5xx, every acknowledged add that was not deleted is in the gallery afterwards, which passes
// its integrity check. (The 50-client, 60 s run is bench/serve_load.)
TEST_F(ServeTest, ShortMixedLoadLosesNothing) {
  RunningServer server(options());
  const std::vector<std::string> photos = {
      photo("barack_obama/obama2.jpg"), photo("joe_biden/biden.jpg"),
      photo("kit_harington/john2.jpeg"), photo("rose_leslie/img1.jpg")};
  std::mutex mutex;
  std::set<std::string> added, deleted;
  std::atomic<int> server_errors = 0, other_errors = 0, requests = 0;
  // Bounded by count (10 requests per client), and by time in case the machine is slow.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&, t] {
      auto c = server.client();
      std::mt19937 rng(t);
      for (int n = 0; n < 10 && std::chrono::steady_clock::now() < end; ++n) {
        const int dice = static_cast<int>(rng() % 100);
        const std::string& image = photos[rng() % photos.size()];
        int status = 0;  // 0: no answer
        if (dice < 80) {
          const auto r = c.Post("/api/v1/recognition/recognize", file_field(image));
          status = r ? r->status : 0;
        } else if (dice < 95) {
          const auto r = c.Post("/api/v1/recognition/faces?subject=load" + std::to_string(t),
                                file_field(image));
          status = r ? r->status : 0;
          if (status == 201) {
            std::lock_guard lock(mutex);
            added.insert(body_json(r)["image_id"].get<std::string>());
          }
        } else {
          std::string victim;
          {
            std::lock_guard lock(mutex);
            if (!added.empty()) victim = *added.begin();
          }
          if (victim.empty()) continue;
          const auto r = c.Delete("/api/v1/recognition/faces/" + victim);
          status = r ? r->status : 0;
          if (status == 200) {
            std::lock_guard lock(mutex);
            added.erase(victim);
            deleted.insert(victim);
          }
        }
        ++requests;
        if (status == 0 || (status >= 400 && status < 500 && status != 404)) {
          ++other_errors;
        } else if (status >= 500) {
          ++server_errors;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  server.stop();
  EXPECT_GT(requests.load(), 30);
  EXPECT_FALSE(added.empty());
  EXPECT_EQ(server_errors.load(), 0);
  EXPECT_EQ(other_errors.load(), 0);
  Gallery g = Gallery::open(dir());
  EXPECT_TRUE(g.check_integrity().ok);
  for (const auto& id : added)
    EXPECT_TRUE(g.face(std::stoll(id)).has_value()) << "lost face " << id;
  for (const auto& id : deleted)
    EXPECT_FALSE(g.face(std::stoll(id)).has_value()) << "deleted face " << id;
}

}  // namespace
}  // namespace clipface
