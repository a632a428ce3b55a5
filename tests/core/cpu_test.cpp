// Our CPUID reading against the kernel's: /proc/cpuinfo lists the features Linux found and
// enabled (it drops those whose registers the OS does not save, as our XCR0 check does).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "clipface/cpu.hpp"

namespace clipface {
namespace {

std::set<std::string> kernel_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

TEST(CpuInfo, AgreeWithTheKernelsFlags) {
  const auto flags = kernel_flags();
  if (flags.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  const CpuInfo& cpu = cpu_info();
  const std::pair<const char*, bool> checks[] = {{"sse4_2", cpu.sse4_2},
                                                 {"avx", cpu.avx},
                                                 {"avx2", cpu.avx2},
                                                 {"fma", cpu.fma},
                                                 {"avx512f", cpu.avx512f},
                                                 {"avx512bw", cpu.avx512bw},
                                                 {"avx512vl", cpu.avx512vl},
                                                 {"avx512dq", cpu.avx512dq},
                                                 {"avx512_vnni", cpu.avx512_vnni},
                                                 {"avx512_bf16", cpu.avx512_bf16},
                                                 {"amx_bf16", cpu.amx_bf16},
                                                 {"amx_tile", cpu.amx_tile}};
  for (const auto& [flag, ours] : checks) {
    EXPECT_EQ(ours, flags.count(flag) == 1) << flag;
  }
  EXPECT_FALSE(cpu.vendor.empty());
  EXPECT_GT(cpu.family, 0);
}

TEST(CpuInfo, NamesListExactlyThePresentOnes) {
  const CpuInfo& cpu = cpu_info();
  const auto names = cpu.names();
  const std::set<std::string> listed(names.begin(), names.end());
  EXPECT_EQ(listed.count("avx2") == 1, cpu.avx2);
  EXPECT_EQ(listed.count("avx512_bf16") == 1, cpu.avx512_bf16);
  EXPECT_EQ(listed.count("avx512_vnni") == 1, cpu.avx512_vnni);
  // An extension implies its foundation.
  if (cpu.avx512_bf16 || cpu.avx512_vnni) {
    EXPECT_TRUE(cpu.avx512f);
  }
  if (cpu.avx2) {
    EXPECT_TRUE(cpu.avx);
  }
}

}  // namespace
}  // namespace clipface
