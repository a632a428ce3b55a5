// The registry against its sources: official_models.json for OpenAI's checkpoints and the files
// in shared/models for the face models.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "support/test_env.hpp"

namespace clipface::models {
namespace {

namespace fs = std::filesystem;

TEST(Registry, OfficialClipCheckpointsMatchTheFixture) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/official_models.json");
  const auto official = nlohmann::json::parse(
      testing::read_text(testing::shared_path("fixtures/clip/official_models.json")));
  ASSERT_EQ(official.at("models").size(), 9u);
  for (const auto& [name, model] : official.at("models").items()) {
    const ModelEntry* entry = find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(entry->name, name);
    EXPECT_EQ(entry->url, model.at("url").get<std::string>()) << name;
    EXPECT_EQ(entry->sha256, model.at("sha256").get<std::string>()) << name;
    EXPECT_EQ(entry->file, model.at("file").get<std::string>()) << name;
    EXPECT_EQ(entry->format, "torchscript");
  }
}

TEST(Registry, OpenAiSumIsThePathComponentBeforeTheFileName) {
  int checked = 0;
  for (const auto& entry : registry()) {
    if (!entry.url.starts_with("https://openaipublic.azureedge.net/")) continue;
    const std::string url(entry.url);
    const std::string expected = std::string(entry.sha256) + "/" + std::string(entry.file);
    EXPECT_TRUE(url.ends_with(expected)) << url;
    ++checked;
  }
  EXPECT_EQ(checked, 9);
}

TEST(Registry, NamesResolveWithDashesFilesAndAnyCase) {
  const ModelEntry* vit = find("ViT-B/32");
  ASSERT_NE(vit, nullptr);
  EXPECT_EQ(find("ViT-B-32"), vit);
  EXPECT_EQ(find("vit-b-32"), vit);
  EXPECT_EQ(find("ViT-B-32.pt"), vit);
  EXPECT_EQ(find("ViT-L-14-336px"), find("ViT-L/14@336px"));
  EXPECT_NE(find("ViT-L-14-336px"), find("ViT-L-14"));
  EXPECT_EQ(find("RN50")->file, "RN50.pt");
  EXPECT_NE(find("RN50"), find("RN50x4"));
  EXPECT_EQ(find("shape_predictor_5_face_landmarks.dat"), find("dlib-landmarks-5"));
  EXPECT_EQ(find("bpe_simple_vocab_16e6.txt.gz"), find("bpe-vocab"));
  EXPECT_EQ(find("ViT-B/33"), nullptr);
  EXPECT_EQ(find(""), nullptr);
}

TEST(Registry, UnknownNameListsTheKnownOnes) {
  try {
    lookup("ViT-Z/99");
    FAIL() << "unknown name accepted";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("ViT-Z/99"), std::string::npos);
    for (const auto& entry : registry()) {
      EXPECT_NE(message.find(std::string(entry.name)), std::string::npos) << entry.name;
    }
  }
}

TEST(Registry, EntriesAreWellFormedAndUnique) {
  std::set<std::string_view> names, files, sums;
  for (const auto& entry : registry()) {
    EXPECT_TRUE(names.insert(entry.name).second) << entry.name;
    EXPECT_TRUE(files.insert(entry.file).second) << entry.file;
    EXPECT_TRUE(sums.insert(entry.sha256).second) << entry.sha256;
    EXPECT_EQ(entry.sha256.size(), 64u) << entry.name;
    EXPECT_EQ(entry.sha256.find_first_not_of("0123456789abcdef"), std::string_view::npos);
    EXPECT_FALSE(entry.source.empty()) << entry.name;
    EXPECT_FALSE(entry.licence.empty()) << entry.name;
    if (!entry.package.empty()) {  // comes from a package tarball, which has the URL
      EXPECT_NE(find_package(entry.package), nullptr) << entry.name;
      EXPECT_TRUE(entry.url.empty()) << entry.name;
    } else if (entry.url.empty()) {
      EXPECT_NE(entry.source.find("no URL"), std::string_view::npos) << entry.name;
    } else {
      EXPECT_TRUE(entry.url.starts_with("https://") || entry.url.starts_with("http://dlib.net/"))
          << entry.url;
    }
    EXPECT_EQ(entry.compression == Compression::bzip2, entry.url.ends_with(".bz2")) << entry.name;
    EXPECT_EQ(find(entry.name), &entry);
    EXPECT_EQ(find_by_sha256(entry.sha256), &entry);
  }
  for (const char* required :
       {"bpe-vocab", "yunet-2022mar", "scrfd-500m", "dlib-landmarks-5", "dlib-resnet-v1"}) {
    EXPECT_NE(find(required), nullptr) << required;
  }
  EXPECT_TRUE(find("scrfd-500m")->url.empty());
  EXPECT_EQ(find("dlib-resnet-v1")->url,
            "http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2");
}

// Each non-CLIP entry's sum equals that of the shared copy of the (unpacked) file.
TEST(Registry, FaceModelSumsMatchTheSharedFiles) {
  CLIPFACE_REQUIRE_SHARED("models");
  int checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(testing::shared_path("models"))) {
    const ModelEntry* known = find(entry.path().filename().string());
    if (!known || !entry.is_regular_file()) continue;
    EXPECT_EQ(sha256_file(entry.path()), known->sha256) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 8);  // vocabulary, 2 YuNet, 2 SCRFD, 3 dlib
}

}  // namespace
}  // namespace clipface::models
