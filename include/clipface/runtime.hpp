// Where and how models run. Plain enums so that every layer can carry them without LibTorch.
#pragma once

#include <string>

namespace clipface {

enum class Device { cpu, cuda };

enum class Precision {
  automatic,  // bf16 where the device runs it natively (AVX-512 BF16 or AMX, CUDA), else fp32
  fp32,       // reference precision
  bf16,       // bfloat16 weights and products with fp32 accumulation, layer norms, attention
              // scores and residual stream (oneDNN on the CPU, autocast on CUDA); fp32 output,
              // cosine >= 0.999 to fp32 (bench/clip_speed prints it). On a CPU without bf16
              // kernels: fp32, with one warning naming the missing feature.
};

struct RuntimeOptions {
  Device device = Device::cpu;
  // The library's default is the reference precision, so that numbers are the same on every
  // machine; the apps default to Precision::automatic (`--precision auto`).
  Precision precision = Precision::fp32;
  int threads = 0;      // intra-op threads; 0 = all cores
  int batch_size = 32;  // callers pass any count; the engine batches internally
};

Device parse_device(const std::string& name);        // "cpu" | "cuda"; InputError otherwise
Precision parse_precision(const std::string& name);  // "auto" | "fp32" | "bf16"
std::string to_string(Device device);
std::string to_string(Precision precision);

}  // namespace clipface
