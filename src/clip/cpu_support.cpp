// What oneDNN can run on this CPU, probed once: the effective ISA (the CPU's features capped by
// ONEDNN_MAX_CPU_ISA) and whether the bf16 primitives the plans use can be created at all.
// oneDNN 2.6 has bf16 kernels from AVX-512 core up (emulated without AVX-512 BF16) and none for
// AVX2: there primitive creation fails ("could not create a primitive descriptor iterator"), so
// a bf16 request becomes fp32 before any plan is built.
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <cstdlib>
#include <oneapi/dnnl/dnnl.hpp>

#include "clipface/clip.hpp"
#include "clipface/cpu.hpp"

namespace clipface {
namespace {

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "isa-" + std::to_string(static_cast<int>(isa));
  }
}

// Creates (without running) one of each bf16 primitive the CPU plans use: a matmul with bias and
// a fused activation, a softmax, a convolution and an average pooling. False when any cannot be
// made here.
bool bf16_primitives_available() {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  try {
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    const dnnl::memory::desc src({4, 64}, dt::bf16, tag::ab), weights({64, 64}, dt::bf16, tag::any),
        bias({1, 64}, dt::f32, tag::ab), dst({4, 64}, dt::f32, tag::ab);
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights, bias, dst), attr, engine);
    const dnnl::memory::desc scores({1, 2, 8, 8}, dt::f32, tag::abcd),
        probs({1, 2, 8, 8}, dt::bf16, tag::abcd);
    dnnl::softmax_v2_forward::primitive_desc(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::softmax_accurate, scores, probs, 3),
        engine);
    const dnnl::memory::desc image({1, 16, 8, 8}, dt::bf16, tag::any),
        kernel({16, 16, 3, 3}, dt::bf16, tag::any), conv_bias({16}, dt::f32, tag::a),
        plain({1, 16, 8, 8}, dt::bf16, tag::nchw), pooled({1, 16, 4, 4}, dt::bf16, tag::any);
    dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::convolution_direct, image, kernel,
                                        conv_bias, image, {1, 1}, {1, 1}, {1, 1}),
        engine);
    dnnl::pooling_v2_forward::primitive_desc(
        dnnl::pooling_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::pooling_avg_exclude_padding, plain, pooled,
                                       {2, 2}, {2, 2}, {0, 0}, {0, 0}, {0, 0}),
        engine);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

ClipCpuSupport probe() {
  ClipCpuSupport s;
  const dnnl_version_t* v = dnnl_version();
  s.onednn_version =
      std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  s.libtorch_version = TORCH_VERSION;
  if (const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA")) s.isa_limit = limit;
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  s.isa = isa_name(isa);
  const CpuInfo& cpu = cpu_info();
  const bool bf16_isa =
      isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  const bool avx512_isa =
      bf16_isa || isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni;
  const std::string limited =
      s.isa_limit.empty() ? "" : " (held there by ONEDNN_MAX_CPU_ISA=" + s.isa_limit + ")";
  std::string missing;
  if (!cpu.avx512_core()) missing = "AVX-512 (avx512f, avx512bw, avx512vl, avx512dq)";
  if (!cpu.avx512_bf16) missing += std::string(missing.empty() ? "" : " and ") + "avx512_bf16";
  if (!avx512_isa || !bf16_primitives_available()) {
    s.bf16 = KernelSupport::unavailable;
    s.bf16_reason = "oneDNN " + s.onednn_version + " has no bf16 kernels at " + s.isa + limited +
                    (missing.empty() ? "" : "; this CPU lacks " + missing);
  } else if (bf16_isa) {
    s.bf16 = KernelSupport::native;
    s.bf16_reason =
        isa == dnnl::cpu_isa::avx512_core_amx ? "AMX bf16 tiles" : "AVX-512 BF16 instructions";
  } else {
    s.bf16 = KernelSupport::emulated;
    s.bf16_reason = "oneDNN emulates bf16 at " + s.isa + limited +
                    (missing.empty() ? "" : "; this CPU lacks " + missing) +
                    ": correct, slower than fp32";
  }
  s.automatic = s.bf16 == KernelSupport::native ? Precision::bf16 : Precision::fp32;
  return s;
}

}  // namespace

std::string to_string(KernelSupport support) {
  switch (support) {
    case KernelSupport::native:
      return "native";
    case KernelSupport::emulated:
      return "emulated";
    case KernelSupport::unavailable:
      return "unavailable";
  }
  return "unavailable";
}

const ClipCpuSupport& clip_cpu_support() {
  static const ClipCpuSupport support = probe();
  return support;
}

Precision resolve_precision(Precision requested, Device device, std::string* warning) {
  if (warning) warning->clear();
  if (device == Device::cuda)
    return requested == Precision::bf16 ? Precision::bf16 : Precision::fp32;
  const ClipCpuSupport& cpu = clip_cpu_support();
  if (requested == Precision::automatic) return cpu.automatic;
  if (requested == Precision::bf16 && cpu.bf16 == KernelSupport::unavailable) {
    if (warning) *warning = "--precision bf16 runs as fp32 here: " + cpu.bf16_reason;
    return Precision::fp32;
  }
  return requested;
}

}  // namespace clipface
