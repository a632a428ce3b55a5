// What this x86-64 CPU offers, read once from CPUID and the OS's saved-state mask (XCR0): an
// instruction set counts only when the OS also saves its registers. Stages choose their kernels
// from here (the gallery's int8 scans; the CLIP engine asks oneDNN, which reads the same bits and
// honours ONEDNN_MAX_CPU_ISA); `clipface doctor` prints it.
#pragma once

#include <string>
#include <vector>

namespace clipface {

struct CpuInfo {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...
  std::string model;   // brand string, e.g. "AMD EPYC 9R14 96-Core Processor"
  int family = 0, model_number = 0, stepping = 0;
  bool sse4_2 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx_vnni = false;  // 256-bit VNNI (Alder Lake, Zen 5)
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512cd = false;
  bool avx512_vnni = false;  // int8 dot products (vpdpbusd)
  bool avx512_bf16 = false;  // bf16 dot products (vdpbf16ps)
  bool avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;

  // AVX-512 foundation with the byte/word, vector-length and doubleword extensions ("AVX-512
  // core", the level oneDNN's AVX-512 kernels need).
  bool avx512_core() const { return avx512f && avx512bw && avx512vl && avx512dq; }
  // The instruction sets present, in order, for reports: "sse4.2 avx avx2 fma ... amx_bf16".
  std::vector<std::string> names() const;
};

const CpuInfo& cpu_info();

}  // namespace clipface
