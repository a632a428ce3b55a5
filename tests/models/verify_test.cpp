// verify(): registry matches by checksum, unknown files, renamed and truncated files.
#include <gtest/gtest.h>

#include <fstream>

#include "clipface/checksum.hpp"
#include "clipface/errors.hpp"
#include "clipface/models.hpp"
#include "support/test_env.hpp"

namespace clipface::models {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Verify, RecognisesTheSharedYunetModel) {
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  const auto path = testing::shared_path("models/yunet/face_detection_yunet_2022mar.onnx");
  const VerifyResult result = verify(path);
  ASSERT_NE(result.match, nullptr);
  EXPECT_EQ(result.match->name, "yunet-2022mar");
  EXPECT_EQ(result.named_as, result.match);
  EXPECT_EQ(result.sha256, sha256_file(path));
  EXPECT_EQ(result.size, fs::file_size(path));
  EXPECT_EQ(result.format, "onnx");
  EXPECT_TRUE(result.ok());
}

TEST(Verify, RecognisesTheSharedVocabulary) {
  CLIPFACE_REQUIRE_SHARED("models/clip/bpe_simple_vocab_16e6.txt.gz");
  const VerifyResult result =
      verify(testing::shared_path("models/clip/bpe_simple_vocab_16e6.txt.gz"));
  ASSERT_NE(result.match, nullptr);
  EXPECT_EQ(result.match->name, "bpe-vocab");
  EXPECT_EQ(result.format, "gzip");
  EXPECT_TRUE(result.ok());
}

TEST(Verify, ReportsAnUnknownFile) {
  TempDir dir;
  write_bytes(dir / "notes.bin", "not a model at all");
  const VerifyResult result = verify(dir / "notes.bin");
  EXPECT_EQ(result.match, nullptr);
  EXPECT_EQ(result.named_as, nullptr);
  EXPECT_EQ(result.sha256, sha256_hex("not a model at all"));
  EXPECT_EQ(result.size, 18u);
  EXPECT_TRUE(result.ok());  // nothing known to be wrong with it
}

TEST(Verify, FlagsAFileNamedLikeAModelWithAnotherSum) {
  CLIPFACE_REQUIRE_SHARED("models/yunet/face_detection_yunet_2022mar.onnx");
  TempDir dir;
  fs::copy_file(testing::shared_path("models/yunet/face_detection_yunet_2022mar.onnx"),
                dir / "face_detection_yunet_2023mar.onnx");
  const VerifyResult result = verify(dir / "face_detection_yunet_2023mar.onnx");
  ASSERT_NE(result.match, nullptr);
  ASSERT_NE(result.named_as, nullptr);
  EXPECT_EQ(result.match->name, "yunet-2022mar");
  EXPECT_EQ(result.named_as->name, "yunet-2023mar");
  EXPECT_FALSE(result.ok());
}

TEST(Verify, ChecksZipStructureOfTorchScriptFiles) {
  TempDir dir;
  // A zip with no members: just the 22-byte end-of-central-directory record after a local header.
  const std::string local_header("PK\x03\x04", 4);
  const std::string end_record = std::string("PK\x05\x06", 4) + std::string(18, '\0');
  write_bytes(dir / "ViT-B-32.pt", local_header + std::string(100, 'x') + end_record);
  VerifyResult whole = verify(dir / "ViT-B-32.pt");
  EXPECT_EQ(whole.format, "zip");
  EXPECT_TRUE(whole.structure_ok);
  EXPECT_FALSE(whole.ok());  // named like ViT-B/32 but not its bytes
  ASSERT_NE(whole.named_as, nullptr);
  EXPECT_EQ(whole.named_as->name, "ViT-B/32");

  write_bytes(dir / "truncated.pt", local_header + std::string(100, 'x'));
  VerifyResult truncated = verify(dir / "truncated.pt");
  EXPECT_FALSE(truncated.structure_ok);
  EXPECT_NE(truncated.structure_note.find("truncated"), std::string::npos);

  write_bytes(dir / "RN50.pt", "<html>not found</html>");
  VerifyResult html = verify(dir / "RN50.pt");
  EXPECT_FALSE(html.structure_ok);
  EXPECT_NE(html.structure_note.find("expected torchscript"), std::string::npos)
      << html.structure_note;
}

TEST(Verify, EmptyAndMissingFiles) {
  TempDir dir;
  write_bytes(dir / "empty.onnx", "");
  EXPECT_FALSE(verify(dir / "empty.onnx").structure_ok);
  try {
    verify(dir / "missing.pt");
    FAIL() << "verified a missing file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.pt"), std::string::npos);
  }
}

}  // namespace
}  // namespace clipface::models
