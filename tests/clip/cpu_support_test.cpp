// What the CLIP engine claims it can run here (clip_cpu_support) is what it then runs: the claim
// is checked against the CPU's own features and against the numbers each precision produces. Run
// as is, and again with oneDNN held to AVX2 (the `isa_avx2:` copies in ctest), so both the
// AVX-512 and the AVX2 paths are exercised on every machine.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "clipface/clip.hpp"
#include "clipface/cpu.hpp"
#include "support/test_env.hpp"

namespace clipface {
namespace {

std::string fixture(const std::string& name) {
  return testing::shared_path("fixtures/clip/" + name).string();
}

bool held_to_avx2() {
  const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA");
  return limit && std::string(limit) == "AVX2";
}

// Four deterministic "images" of side `size`.
std::vector<float> pixels(int size) {
  std::vector<float> v(4 * 3 * static_cast<std::size_t>(size) * size);
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>((i * 7919) % 211) / 105.f - 1.f;
  return v;
}

TEST(ClipCpuSupport, AgreesWithTheCpusFeatures) {
  const ClipCpuSupport& s = clip_cpu_support();
  const CpuInfo& cpu = cpu_info();
  EXPECT_FALSE(s.onednn_version.empty());
  EXPECT_FALSE(s.libtorch_version.empty());
  if (held_to_avx2()) {
    EXPECT_TRUE(s.isa == "avx2" || !cpu.avx2) << s.isa;
    EXPECT_EQ(s.bf16, KernelSupport::unavailable) << s.bf16_reason;
    EXPECT_NE(s.bf16_reason.find("ONEDNN_MAX_CPU_ISA"), std::string::npos) << s.bf16_reason;
  } else if (std::getenv("ONEDNN_MAX_CPU_ISA") == nullptr) {
    // Unrestricted, oneDNN's ISA follows the CPU: AVX-512 BF16 (or AMX) makes bf16 native.
    EXPECT_EQ(s.bf16 == KernelSupport::native,
              cpu.avx512_core() && (cpu.avx512_bf16 || cpu.amx_bf16))
        << s.isa << ": " << s.bf16_reason;
    if (!cpu.avx512_core()) {
      EXPECT_EQ(s.bf16, KernelSupport::unavailable);
    }
  }
  if (s.bf16 == KernelSupport::unavailable && !cpu.avx512_bf16) {
    EXPECT_NE(s.bf16_reason.find("avx512_bf16"), std::string::npos)
        << "the reason names the missing feature: " << s.bf16_reason;
  }
  EXPECT_EQ(s.automatic, s.bf16 == KernelSupport::native ? Precision::bf16 : Precision::fp32);
}

TEST(ClipCpuSupport, AutoRunsWhatItClaims) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  ClipLoadOptions automatic, reference;
  automatic.runtime.precision = Precision::automatic;
  reference.runtime.precision = Precision::fp32;
  const ClipModel a = ClipModel::load(fixture("vit-tiny.safetensors"), automatic);
  const ClipModel f = ClipModel::load(fixture("vit-tiny.safetensors"), reference);
  EXPECT_EQ(a.runtime().precision, clip_cpu_support().automatic);
  const Matrix got = a.encode_pixels(pixels(a.info().image_size), 4);
  const Matrix want = f.encode_pixels(pixels(f.info().image_size), 4);
  for (std::size_t r = 0; r < want.rows; ++r) {
    EXPECT_GE(dot(got.row(r), want.row(r)), 0.999f) << r;
    if (a.runtime().precision == Precision::fp32) {
      EXPECT_EQ(std::vector<float>(got.row(r).begin(), got.row(r).end()),
                std::vector<float>(want.row(r).begin(), want.row(r).end()))
          << "auto picked fp32, so the numbers are fp32's";
    }
  }
}

TEST(ClipCpuSupport, Bf16RequestRunsBf16WhereItCan) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  if (clip_cpu_support().bf16 == KernelSupport::unavailable) {
    GTEST_SKIP() << "no bf16 kernels here (" << clip_cpu_support().bf16_reason
                 << "); Bf16RequestFallsBackToExactFp32 runs instead";
  }
  ClipLoadOptions bf16, fp32;
  bf16.runtime.precision = Precision::bf16;
  const ClipModel low = ClipModel::load(fixture("vit-tiny.safetensors"), bf16);
  const ClipModel ref = ClipModel::load(fixture("vit-tiny.safetensors"), fp32);
  EXPECT_EQ(low.runtime().precision, Precision::bf16);
  std::string warning = "unchanged";
  EXPECT_EQ(resolve_precision(Precision::bf16, Device::cpu, &warning), Precision::bf16);
  EXPECT_TRUE(warning.empty());
  const auto input = pixels(low.info().image_size);
  const Matrix a = low.encode_pixels(input, 4), b = ref.encode_pixels(input, 4);
  bool differs = false;
  for (std::size_t r = 0; r < b.rows; ++r) {
    EXPECT_GE(dot(a.row(r), b.row(r)), 0.999f) << r;
    differs |= a.row(r)[0] != b.row(r)[0];
  }
  EXPECT_TRUE(differs) << "the bf16 plan really computes in bf16";
}

TEST(ClipCpuSupport, Bf16RequestFallsBackToExactFp32) {
  CLIPFACE_REQUIRE_SHARED("fixtures/clip/vit-tiny.safetensors");
  if (clip_cpu_support().bf16 != KernelSupport::unavailable) {
    GTEST_SKIP() << "bf16 kernels exist here (" << clip_cpu_support().bf16_reason
                 << "); the fallback is exercised by the isa_avx2: copy of this test";
  }
  std::string warning;
  EXPECT_EQ(resolve_precision(Precision::bf16, Device::cpu, &warning), Precision::fp32);
  EXPECT_NE(warning.find("fp32"), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\n'), std::string::npos) << "one line";
  ClipLoadOptions bf16, fp32;
  bf16.runtime.precision = Precision::bf16;
  const ClipModel low = ClipModel::load(fixture("vit-tiny.safetensors"), bf16);
  const ClipModel ref = ClipModel::load(fixture("vit-tiny.safetensors"), fp32);
  EXPECT_EQ(low.runtime().precision, Precision::fp32);
  const auto input = pixels(low.info().image_size);
  const Matrix a = low.encode_pixels(input, 4), b = ref.encode_pixels(input, 4);
  EXPECT_EQ(a.data, b.data) << "the fallback is fp32 exactly";
}

}  // namespace
}  // namespace clipface
