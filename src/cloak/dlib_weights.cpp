// Reads dlib's face ResNet with dlib (the exact network type deserialises it) and copies each
// parametrised layer out. visit_computational_layers walks from the output (layer 0) to the input
// and sees the residual network as one chain (tags and skips carry no parameters), so the
// reversed list is the forward order: stem, then conv/affine/conv/affine per block, then fc.
#include "cloak/dlib_weights.hpp"

#include <algorithm>

#include "clipface/errors.hpp"
#include "embed/dlib_network.hpp"

namespace clipface::cloak {
namespace {

using Net = detail::DlibFaceNet;

std::vector<float> copy_tensor(const dlib::tensor& t) {
  return std::vector<float>(t.host(), t.host() + t.size());
}

struct Collector {
  std::vector<DlibLayer>* out;

  template <long N, long R, long C, int SY, int SX, int PY, int PX>
  void operator()(const dlib::con_<N, R, C, SY, SX, PY, PX>& l) const {
    static_assert(SY == SX && PY == PX, "square strides and paddings only");
    const dlib::tensor& params = l.get_layer_params();
    DlibLayer layer;
    layer.kind = "con";
    const long filter_size = params.size() - (l.bias_is_disabled() ? 0 : l.num_filters());
    const long in = filter_size / (l.num_filters() * R * C);
    layer.shape = {l.num_filters(), in, R, C};
    layer.stride = SY;
    layer.padding = l.padding_y();
    std::vector<float> all = copy_tensor(params);
    layer.weights.assign(all.begin(), all.begin() + filter_size);
    layer.biases.assign(all.begin() + filter_size, all.end());
    out->push_back(std::move(layer));
  }

  void operator()(const dlib::affine_& l) const {
    DlibLayer layer;
    layer.kind = "affine";
    layer.weights = copy_tensor(l.get_gamma().get());
    layer.biases = copy_tensor(l.get_beta().get());
    layer.shape = {static_cast<long>(layer.weights.size())};
    if (l.get_mode() != dlib::CONV_MODE) layer.kind = "affine-fc";  // refused by the module
    out->push_back(std::move(layer));
  }

  template <unsigned long N, dlib::fc_bias_mode M>
  void operator()(const dlib::fc_<N, M>& l) const {
    const dlib::tensor& params = l.get_layer_params();
    DlibLayer layer;
    layer.kind = "fc";
    const long outputs = static_cast<long>(N);
    layer.shape = {static_cast<long>(params.size()) / outputs, outputs};
    layer.weights = copy_tensor(params);
    out->push_back(std::move(layer));
  }

  template <typename Other>
  void operator()(const Other&) const {}  // relu, pooling, add_prev: no parameters
};

void load(const std::filesystem::path& path, Net& net) {
  try {
    dlib::deserialize(path.string()) >> net;
  } catch (const std::exception& e) {
    throw ModelError("cannot load dlib model " + path.string() + ": " + e.what());
  }
}

}  // namespace

DlibResnetWeights read_dlib_resnet(const std::filesystem::path& path) {
  Net net;
  load(path, net);
  DlibResnetWeights weights;
  weights.path = path;
  const auto& input = dlib::input_layer(net);
  weights.mean_rgb = {input.get_avg_red(), input.get_avg_green(), input.get_avg_blue()};
  dlib::visit_computational_layers(net, Collector{&weights.layers});
  std::reverse(weights.layers.begin(), weights.layers.end());
  return weights;
}

std::vector<std::vector<float>> dlib_reference_descriptors(
    const std::filesystem::path& path, const std::vector<std::vector<unsigned char>>& rgb_chips) {
  Net net;
  load(path, net);
  std::vector<dlib::matrix<dlib::rgb_pixel>> chips;
  for (const auto& bytes : rgb_chips) {
    if (bytes.size() != 150u * 150u * 3u) throw InputError("dlib chips are 150x150 RGB");
    dlib::matrix<dlib::rgb_pixel> chip(150, 150);
    for (long r = 0; r < 150; ++r) {
      for (long c = 0; c < 150; ++c) {
        const unsigned char* p = &bytes[(r * 150 + c) * 3];
        chip(r, c) = dlib::rgb_pixel(p[0], p[1], p[2]);
      }
    }
    chips.push_back(std::move(chip));
  }
  std::vector<std::vector<float>> out;
  for (const auto& d : net(chips, 16)) out.emplace_back(d.begin(), d.end());
  return out;
}

}  // namespace clipface::cloak
