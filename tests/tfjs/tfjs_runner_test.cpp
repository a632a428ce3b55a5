// The runner on small graphs written here: layout (NHWC semantics on NCHW tensors), TensorFlow's
// SAME padding, weight quantisation, gradients against finite differences, and the errors for
// bad models (unknown op, missing or truncated shard, not JSON, wrong input size).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "clipface/tfjs.hpp"
#include "support/test_env.hpp"
#include "tfjs/graph.hpp"
#include "tfjs/model_json.hpp"
#include "tfjs/weights.hpp"

namespace clipface::tfjs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;

// A TF.js model.json + shard written from a list of nodes and float32 weights.
struct ModelWriter {
  json nodes = json::array();
  json weights = json::array();
  std::string bytes;

  void placeholder(const std::string& name, std::vector<int> shape) {
    json dims = json::array();
    for (int d : shape) dims.push_back({{"size", std::to_string(d)}});
    nodes.push_back(
        {{"name", name},
         {"op", "Placeholder"},
         {"attr", {{"shape", {{"shape", {{"dim", dims}}}}}, {"dtype", {{"type", "DT_FLOAT"}}}}}});
  }
  void constant(const std::string& name, std::vector<std::int64_t> shape,
                const std::vector<float>& values, const std::string& dtype = "float32") {
    nodes.push_back({{"name", name}, {"op", "Const"}, {"attr", json::object()}});
    weights.push_back({{"name", name}, {"shape", shape}, {"dtype", dtype}});
    if (dtype == "int32") {
      for (float v : values) {
        const std::int32_t i = static_cast<std::int32_t>(v);
        bytes.append(reinterpret_cast<const char*>(&i), 4);
      }
    } else {
      bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
    }
  }
  void node(const std::string& name, const std::string& op, std::vector<std::string> inputs,
            json attr = json::object()) {
    nodes.push_back({{"name", name}, {"op", op}, {"input", inputs}, {"attr", attr}});
  }
  fs::path write(const fs::path& dir, const std::string& stem = "model") const {
    const json model = {{"format", "graph-model"},
                        {"modelTopology", {{"node", nodes}}},
                        {"weightsManifest", {{{"paths", {stem + ".bin"}}, {"weights", weights}}}}};
    std::ofstream(dir / (stem + ".json")) << model.dump();
    std::ofstream(dir / (stem + ".bin"), std::ios::binary) << bytes;
    return dir / (stem + ".json");
  }
};

json str(const std::string& s) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int value = 0, bits = -6;
  for (unsigned char c : s) {
    value = (value << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kAlphabet[(value >> bits) & 0x3f]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kAlphabet[((value << 8) >> (bits + 8)) & 0x3f]);
  while (out.size() % 4) out.push_back('=');
  return {{"s", out}};
}
json ints(std::vector<int> v) {
  json list = json::array();
  for (int i : v) list.push_back(std::to_string(i));
  return {{"list", {{"i", list}}}};
}
json strs(std::vector<std::string> v) {
  json list = json::array();
  for (const auto& s : v) list.push_back(str(s)["s"]);
  return {{"list", {{"s", list}}}};
}

json conv_attr(const std::string& padding, int stride) {
  return {{"padding", str(padding)},
          {"strides", ints({1, stride, stride, 1})},
          {"data_format", str("NHWC")},
          {"dilations", ints({1, 1, 1, 1})}};
}

std::vector<float> ramp(std::size_t n, float scale = 0.1f, float shift = 0.0f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(scale * static_cast<float>(i) + shift);
  return v;
}

Graph compile(const fs::path& json_path, at::ScalarType dtype = at::kFloat) {
  const ModelJson model = read_model_json(json_path);
  return Graph(model, read_weights(model), GraphOptions{dtype});
}

// A smooth, varied NHWC batch.
at::Tensor nhwc_input(std::vector<std::int64_t> shape, at::ScalarType dtype = at::kFloat) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return at::sin(at::arange(n, at::TensorOptions().dtype(dtype)) * 0.37).reshape(shape);
}

TEST(TfjsLayout, ReshapeAfterAConvolutionFlattensInTensorFlowOrder) {
  // A 1x1 identity convolution turns the input into an NCHW activation; flattening it must give
  // the NHWC order TensorFlow flattens in.
  TempDir dir;
  ModelWriter m;
  m.placeholder("x", {-1, 3, 4, 2});
  m.constant("w", {1, 1, 2, 2}, {1, 0, 0, 1});
  m.node("conv", "Conv2D", {"x", "w"}, conv_attr("VALID", 1));
  m.constant("shape", {2}, {-1, 24}, "int32");
  m.node("flat", "Reshape", {"conv", "shape"});
  const Graph g = compile(m.write(dir.path()));
  const at::Tensor x = nhwc_input({2, 3, 4, 2});
  const auto y = g.forward({x});
  EXPECT_TRUE(at::allclose(y[0], x.reshape({2, 24})));
}

TEST(TfjsLayout, ChannelAxesMapOntoNchwForMeanConcatPadAndSoftmax) {
  TempDir dir;
  ModelWriter m;
  m.placeholder("x", {-1, 3, 4, 2});
  m.constant("w", {1, 1, 2, 2}, {1, 0, 0, 1});
  m.node("conv", "Conv2D", {"x", "w"}, conv_attr("VALID", 1));
  m.constant("axis3", {}, {3}, "int32");
  m.node("cat", "ConcatV2", {"conv", "conv", "axis3"});
  m.constant("pads", {4, 2}, {0, 0, 1, 0, 0, 2, 1, 0}, "int32");
  m.node("pad", "Pad", {"cat", "pads"});
  m.node("soft", "Softmax", {"pad"});
  m.constant("axes", {2}, {1, 2}, "int32");
  m.node("mean", "Mean", {"soft", "axes"}, {{"keep_dims", {{"b", false}}}});
  m.constant("axes1", {1}, {2}, "int32");
  m.node("mean_w", "Mean", {"pad", "axes1"}, {{"keep_dims", {{"b", false}}}});
  const Graph g = compile(m.write(dir.path()));
  ASSERT_EQ(g.outputs().size(), 2u);
  const at::Tensor x = nhwc_input({2, 3, 4, 2});
  const auto y = g.forward({x});
  // The same ops on the NHWC tensor as TensorFlow defines them.
  const at::Tensor cat = at::cat({x, x}, 3);
  const at::Tensor pad = at::constant_pad_nd(cat, {1, 0, 0, 2, 1, 0});  // C, W, H from the last
  const at::Tensor expected_mean = at::softmax(pad, 3).mean({1, 2});
  EXPECT_EQ(y[0].sizes(), expected_mean.sizes());
  EXPECT_TRUE(at::allclose(y[0], expected_mean, 1e-5, 1e-6));
  const at::Tensor expected_w = pad.mean({2});  // [N, H, C] in logical order
  EXPECT_EQ(y[1].sizes(), expected_w.sizes());
  EXPECT_TRUE(at::allclose(y[1], expected_w, 1e-5, 1e-6));
}

TEST(TfjsPadding, SamePutsTheOddPixelAtTheBottomRight) {
  // 3x3 all-ones filter, stride 2, SAME on a 4x4 image: TensorFlow pads 0 above/left and 1
  // below/right, so the first output sums x[0..1][0..1], not a window centred off the image.
  TempDir dir;
  ModelWriter m;
  m.placeholder("x", {-1, 4, 4, 1});
  m.constant("w", {3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  m.node("conv", "Conv2D", {"x", "w"}, conv_attr("SAME", 2));
  m.node("pool", "MaxPool", {"x"},
         {{"padding", str("SAME")},
          {"strides", ints({1, 2, 2, 1})},
          {"ksize", ints({1, 3, 3, 1})},
          {"data_format", str("NHWC")}});
  m.node("avg", "AvgPool", {"x"},
         {{"padding", str("SAME")},
          {"strides", ints({1, 2, 2, 1})},
          {"ksize", ints({1, 3, 3, 1})},
          {"data_format", str("NHWC")}});
  const Graph g = compile(m.write(dir.path()));
  const at::Tensor x = at::arange(16, at::kFloat).reshape({1, 4, 4, 1});
  const auto y = g.forward({x});
  // Rows 0-2 x cols 0-2 of 0..15 = 0+1+2+4+5+6+8+9+10 = 45; the last window is rows/cols 2-3.
  EXPECT_FLOAT_EQ(y[0][0][0][0][0].item<float>(), 45.0f);
  EXPECT_FLOAT_EQ(y[0][0][1][1][0].item<float>(), 10 + 11 + 14 + 15);
  EXPECT_FLOAT_EQ(y[1][0][1][1][0].item<float>(), 15.0f);
  // Averages count only the pixels inside the image (4 in the last window).
  EXPECT_FLOAT_EQ(y[2][0][1][1][0].item<float>(), (10 + 11 + 14 + 15) / 4.0f);
  EXPECT_FLOAT_EQ(y[2][0][0][0][0].item<float>(), 45.0f / 9);
}

TEST(TfjsWeights, QuantisedWeightsDecodeAsTfjsDoes) {
  TempDir dir;
  const json model = {{"format", "graph-model"},
                      {"modelTopology",
                       {{"node",
                         {{{"name", "u8"}, {"op", "Const"}},
                          {{"name", "u16"}, {"op", "Const"}},
                          {{"name", "f16"}, {"op", "Const"}}}}}},
                      {"weightsManifest",
                       {{{"paths", {"w.bin"}},
                         {"weights",
                          {{{"name", "u8"},
                            {"shape", {3}},
                            {"dtype", "float32"},
                            {"quantization", {{"dtype", "uint8"}, {"min", -1.0}, {"scale", 0.5}}}},
                           {{"name", "u16"},
                            {"shape", {2}},
                            {"dtype", "float32"},
                            {"quantization", {{"dtype", "uint16"}, {"min", 2.0}, {"scale", 0.25}}}},
                           {{"name", "f16"},
                            {"shape", {4}},
                            {"dtype", "float32"},
                            {"quantization", {{"dtype", "float16"}}}}}}}}}};
  std::ofstream(dir / "m.json") << model.dump();
  const unsigned char u8[3] = {0, 2, 255};
  const std::uint16_t u16[2] = {4, 1000};
  const std::uint16_t f16[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};  // 1, -2, 2^-24, 65504
  std::string bytes(reinterpret_cast<const char*>(u8), 3);
  bytes.append(reinterpret_cast<const char*>(u16), 4);
  bytes.append(reinterpret_cast<const char*>(f16), 8);
  std::ofstream(dir / "w.bin", std::ios::binary) << bytes;
  const auto weights = read_weights(read_model_json(dir / "m.json"));
  const at::Tensor a = weights.at("u8"), b = weights.at("u16"), c = weights.at("f16");
  EXPECT_FLOAT_EQ(a[0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(a[1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(a[2].item<float>(), 126.5f);
  EXPECT_FLOAT_EQ(b[0].item<float>(), 3.0f);
  EXPECT_FLOAT_EQ(b[1].item<float>(), 252.0f);
  EXPECT_FLOAT_EQ(c[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(c[1].item<float>(), -2.0f);
  EXPECT_FLOAT_EQ(c[2].item<float>(), std::ldexp(1.0f, -24));
  EXPECT_FLOAT_EQ(c[3].item<float>(), 65504.0f);
}

// A small network with the ops of the face models: fused conv with bias and relu, depthwise
// conv, PReLU written out (max + alpha * min), pools, flatten, fused matmul, softmax.
fs::path small_network(const fs::path& dir) {
  ModelWriter m;
  m.placeholder("x", {-1, 9, 9, 3});
  m.constant("w1", {3, 3, 3, 4}, ramp(108, 0.3f));
  m.constant("b1", {4}, ramp(4, 1.0f, 0.5f));
  json fused = conv_attr("SAME", 2);
  fused["fused_ops"] = strs({"BiasAdd", "Relu"});
  fused["num_args"] = {{"i", "1"}};
  m.node("conv1", "_FusedConv2D", {"x", "w1", "b1"}, fused);
  m.constant("dw", {3, 3, 4, 1}, ramp(36, 0.7f));
  m.node("dconv", "DepthwiseConv2dNative", {"conv1", "dw"}, conv_attr("SAME", 1));
  m.constant("zero", {}, {0});
  m.constant("alpha", {4}, {0.1f, 0.2f, -0.3f, 0.25f});
  m.node("pos", "Maximum", {"zero", "dconv"});
  m.node("neg", "Minimum", {"zero", "dconv"});
  m.node("scaled", "Mul", {"alpha", "neg"});
  m.node("prelu", "AddV2", {"pos", "scaled"});
  m.node("pool", "AvgPool", {"prelu"},
         {{"padding", str("VALID")},
          {"strides", ints({1, 2, 2, 1})},
          {"ksize", ints({1, 2, 2, 1})},
          {"data_format", str("NHWC")}});
  m.constant("shape", {2}, {-1, 16}, "int32");
  m.node("flat", "Reshape", {"pool", "shape"});
  m.constant("w2", {16, 3}, ramp(48, 0.2f));
  m.constant("b2", {3}, {0.1f, -0.2f, 0.3f});
  m.node("dense", "_FusedMatMul", {"flat", "w2", "b2"},
         {{"fused_ops", strs({"BiasAdd"})},
          {"num_args", {{"i", "1"}}},
          {"transpose_a", {{"b", false}}},
          {"transpose_b", {{"b", false}}}});
  m.node("out", "Softmax", {"dense"});
  return m.write(dir);
}

TEST(TfjsAutograd, GradientOfTheInputMatchesFiniteDifferences) {
  TempDir dir;
  const Graph g = compile(small_network(dir.path()), at::kDouble);
  at::Tensor x = (nhwc_input({2, 9, 9, 3}, at::kDouble) * 2.0).set_requires_grad(true);
  const at::Tensor weights = at::tensor({0.3, -1.1, 0.7}, at::kDouble);
  auto loss = [&](const at::Tensor& input) { return (g.forward({input})[0] * weights).sum(); };
  loss(x).backward();
  const at::Tensor grad = x.grad().clone();
  ASSERT_GT(grad.abs().max().item<double>(), 1e-6) << "the gradient reached the input";
  at::NoGradGuard no_grad;
  const double h = 1e-6;
  int checked = 0;
  for (std::int64_t i = 0; i < x.numel(); i += 17) {
    at::Tensor plus = x.detach().clone(), minus = x.detach().clone();
    plus.view({-1})[i] += h;
    minus.view({-1})[i] -= h;
    const double numeric = (loss(plus).item<double>() - loss(minus).item<double>()) / (2 * h);
    const double analytic = grad.view({-1})[i].item<double>();
    EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-4 * std::abs(numeric)) << "element " << i;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

TEST(TfjsAutograd, GradientFlowsThroughARealFaceModelFromNchwInput) {
  // The cloaking attacks feed NCHW tensors in [0, 1]; liveness is the smallest human model.
  const fs::path json_path = models_dir() / "human-models" / "liveness.json";
  if (!fs::exists(json_path)) GTEST_SKIP() << json_path << " missing";
  const Graph g = compile(json_path, at::kDouble);
  at::Tensor x = (at::rand({1, 3, 32, 32}, at::kDouble)).set_requires_grad(true);
  auto loss = [&](const at::Tensor& input) { return g.forward({input}, true)[0][0][0]; };
  loss(x).backward();
  const at::Tensor grad = x.grad().clone();
  at::NoGradGuard no_grad;
  for (const std::int64_t i : {0L, 511L, 1500L, 3071L}) {
    at::Tensor plus = x.detach().clone(), minus = x.detach().clone();
    plus.view({-1})[i] += 1e-6;
    minus.view({-1})[i] -= 1e-6;
    const double numeric = (loss(plus).item<double>() - loss(minus).item<double>()) / 2e-6;
    EXPECT_NEAR(grad.view({-1})[i].item<double>(), numeric, 1e-7 + 1e-4 * std::abs(numeric));
  }
}

TEST(TfjsErrors, UnknownOpIsRefusedAtLoadWithItsName) {
  TempDir dir;
  ModelWriter m;
  m.placeholder("x", {-1, 4});
  m.node("y", "FancyOp", {"x"});
  const fs::path path = m.write(dir.path());
  try {
    GraphModel::load(path);
    FAIL() << "loaded a graph with an unknown op";
  } catch (const ModelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'FancyOp'"), std::string::npos) << what;
    EXPECT_NE(what.find("node 'y'"), std::string::npos) << what;
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_EQ(e.exit_code(), 4);
  }
}

TEST(TfjsErrors, MissingTruncatedAndPaddedShardsAreNamed) {
  TempDir dir;
  const fs::path path = small_network(dir.path());
  const fs::path bin = dir / "model.bin";
  const std::string bytes = testing::read_text(bin);
  auto message = [&] {
    try {
      GraphModel::load(path);
    } catch (const ModelError& e) {
      return std::string(e.what());
    }
    return std::string("(loaded)");
  };
  std::ofstream(bin, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 10);
  std::string what = message();
  EXPECT_NE(what.find("truncated weight file"), std::string::npos) << what;
  EXPECT_NE(what.find(bin.string()), std::string::npos) << what;
  std::ofstream(bin, std::ios::binary | std::ios::trunc) << bytes << "extra";
  what = message();
  EXPECT_NE(what.find("longer than its manifest"), std::string::npos) << what;
  fs::remove(bin);
  what = message();
  EXPECT_NE(what.find("weight file not found: " + bin.string()), std::string::npos) << what;
}

TEST(TfjsErrors, BrokenJsonAndMissingFileAreModelErrors) {
  TempDir dir;
  const fs::path path = small_network(dir.path());
  const std::string text = testing::read_text(path);
  std::ofstream(path, std::ios::trunc) << text.substr(0, text.size() / 2);
  try {
    GraphModel::load(path);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(GraphModel::load(dir / "nothing.json"), ModelError);
}

TEST(TfjsErrors, WrongInputSizeNamesTheInputAndTheShapes) {
  TempDir dir;
  const auto model = GraphModel::load(small_network(dir.path()));
  ASSERT_EQ(model.info().inputs.size(), 1u);
  EXPECT_EQ(model.info().inputs[0].shape, (std::vector<std::int64_t>{-1, 9, 9, 3}));
  EXPECT_EQ(model.info().outputs[0].shape, (std::vector<std::int64_t>{-1, 3}));
  Tensor wrong{{1, 8, 8, 3}, std::vector<float>(192, 0.5f)};
  try {
    model.run({wrong});
    FAIL();
  } catch (const ModelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("input 'x'"), std::string::npos) << what;
    EXPECT_NE(what.find("[-1,9,9,3]"), std::string::npos) << what;
    EXPECT_NE(what.find("[1,8,8,3]"), std::string::npos) << what;
  }
  Tensor right{{1, 9, 9, 3}, std::vector<float>(243, 0.5f)};
  const auto out = model.run({right});
  ASSERT_EQ(out.size(), 1u);
  double sum = 0;
  for (float v : out[0].data) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-5) << "softmax row";
}

TEST(TfjsRunner, FoldsConstantsAndListsItsOps) {
  TempDir dir;
  const auto model = GraphModel::load(small_network(dir.path()));
  EXPECT_EQ(model.info().ops.at("_FusedConv2D"), 1);
  EXPECT_GT(model.info().parameters, 100);
  EXPECT_GT(model.info().steps, 5);
  const auto ops = supported_ops();
  for (const char* op : {"Conv2D",
                         "_FusedConv2D",
                         "DepthwiseConv2dNative",
                         "FusedDepthwiseConv2dNative",
                         "MatMul",
                         "_FusedMatMul",
                         "Add",
                         "AddV2",
                         "Sub",
                         "Mul",
                         "Maximum",
                         "Minimum",
                         "Relu",
                         "Sigmoid",
                         "Softmax",
                         "Pad",
                         "MaxPool",
                         "Mean",
                         "Sum",
                         "Square",
                         "Rsqrt",
                         "Abs",
                         "Reshape",
                         "Squeeze",
                         "Identity",
                         "AvgPool",
                         "Tanh",
                         "StridedSlice",
                         "ExpandDims",
                         "RealDiv",
                         "Max"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
  }
}

}  // namespace
}  // namespace clipface::tfjs
