// The cloaking engine: PGD on the pixels around the faces, through each model's differentiable
// alignment (region_warp.hpp), with the budgets enforced on the 8-bit output.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <opencv2/imgproc.hpp>

#include "clip/engine.hpp"
#include "clipface/cloak.hpp"
#include "clipface/errors.hpp"
#include "clipface/progress.hpp"
#include "cloak/face_model.hpp"
#include "cloak/region_warp.hpp"
#include "cloak/ssim.hpp"

namespace clipface::cloak {
namespace {

using Clock = std::chrono::steady_clock;

// One image being cloaked: its region (float RGB in [0, 1]), the perturbation, and per face and
// model the warp into the model's crop.
struct Work {
  const CloakInput* input = nullptr;
  cv::Rect region;
  torch::Tensor clean;                                       // [3, h, w]
  torch::Tensor delta;                                       // [3, h, w]
  std::vector<std::vector<RegionWarp>> warps;                // [face][model]
  std::vector<std::vector<torch::Tensor>> clean_embeddings;  // [face][model], [D]
  std::vector<torch::Tensor> targets;                        // fawkes: per model, [D]
  std::string target;
  torch::Tensor best_delta;
  double best_loss = std::numeric_limits<double>::infinity();
  std::size_t small_faces = 0;
};

bool big_enough(const Face& face, float min_face) {
  return std::min(face.box.width, face.box.height) >= min_face;
}

torch::Tensor gaussian_kernel(int size, double sigma) {
  torch::Tensor x = torch::arange(size, torch::kFloat) - (size - 1) / 2.0;
  torch::Tensor g = torch::exp(-(x * x) / (2 * sigma * sigma));
  g = g / g.sum();
  return torch::outer(g, g).expand({3, 1, size, size}).contiguous();
}

// LowKey's smoothing G, on the crop (resolution-independent): 5x5 Gaussian, sigma 1 px.
torch::Tensor smooth(const torch::Tensor& crops) {
  static const torch::Tensor kernel = gaussian_kernel(5, 1.0);
  namespace F = torch::nn::functional;
  return F::conv2d(torch::replication_pad2d(crops, {2, 2, 2, 2}), kernel.to(crops.dtype()),
                   F::Conv2dFuncOptions().groups(3));
}

cv::Mat to_u8(const torch::Tensor& rgb01) {
  torch::Tensor bytes = (rgb01.clamp(0, 1) * 255.0).round().to(torch::kUInt8);
  bytes = bytes.permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(bytes.size(0)), static_cast<int>(bytes.size(1)), CV_8UC3,
              bytes.data_ptr<std::uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

}  // namespace

// -------------------------------------------------------------------------------------------

Method parse_method(const std::string& name) {
  if (name == "fawkes") return Method::fawkes;
  if (name == "lowkey") return Method::lowkey;
  throw InputError("unknown cloak method '" + name + "' (expected fawkes or lowkey)");
}

Level parse_level(const std::string& name) {
  if (name == "low") return Level::low;
  if (name == "mid") return Level::mid;
  if (name == "high") return Level::high;
  throw InputError("unknown cloak level '" + name + "' (expected low, mid or high)");
}

std::string to_string(Method method) {
  return method == Method::fawkes ? "fawkes" : "lowkey";
}

std::string to_string(Level level) {
  return level == Level::low ? "low" : level == Level::mid ? "mid" : "high";
}

Budget default_budget(Method method, Level level) {
  const int i = static_cast<int>(level);
  Budget b;
  if (method == Method::fawkes) {
    // DSSIM bounds of Fawkes v1.0's low/mid/high modes (protection.py mode2param); the L_inf cap
    // only keeps single pixels from jumping where texture would hide a large change.
    constexpr double dssim[] = {0.003, 0.005, 0.008};
    constexpr int steps[] = {40, 80, 150};
    b.max_dssim = dssim[i];
    b.max_linf = 16;
    b.steps = steps[i];
    b.dssim_weight = 1.0;
  } else {
    constexpr int linf[] = {4, 8, 12};
    constexpr int steps[] = {40, 80, 150};
    b.max_dssim = -1;  // LowKey bounds perception by its penalty only
    b.max_linf = linf[i];
    b.steps = steps[i];
    b.dssim_weight = 5.0;
  }
  return b;
}

// -------------------------------------------------------------------------------------------

struct Cloaker::Impl {
  CloakOptions options;
  Budget budget;
  std::vector<std::unique_ptr<FaceModel>> models;
  // fawkes: per pool person, per model, the unit centroid of their faces.
  std::vector<std::string> pool_people;
  std::vector<std::vector<torch::Tensor>> pool_centroids;

  torch::Tensor embed_crop_no_grad(std::size_t m, const cv::Mat& image, const Face& face) const {
    torch::NoGradGuard no_grad;
    const FaceModel& model = *models[m];
    const int s = model.input_size();
    cv::Mat crop;
    cv::warpAffine(image, crop, model.crop_transform(image, face), cv::Size(s, s), cv::INTER_LINEAR,
                   cv::BORDER_CONSTANT);
    return model.embed(image_to_rgb01(crop).unsqueeze(0))[0];
  }

  Work prepare(const CloakInput& input) const;
  void choose_target(const std::vector<Work*>& users) const;
  // The objective of one batch (minimised) and each image's feature part of it.
  torch::Tensor objective(std::vector<Work>& batch, std::vector<double>& feature_loss) const;
  void project(Work& w) const;
  CloakResult finish(Work& w) const;
};

Cloaker::Cloaker(const CloakOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = options;
  if (options.models.empty()) throw InputError("no model to cloak against (--models)");
  if (options.batch_size < 1) throw InputError("batch size must be at least 1");
  s.budget = default_budget(options.method, options.level);
  if (options.steps) {
    if (*options.steps < 0) throw InputError("steps must not be negative");
    s.budget.steps = *options.steps;
  }
  if (options.max_linf) {
    if (*options.max_linf < 0 || *options.max_linf > 255)
      throw InputError("max L_inf must lie in 0..255 (8-bit levels)");
    s.budget.max_linf = *options.max_linf;
  }
  if (options.max_dssim) {
    if (*options.max_dssim < 0 || *options.max_dssim > 1)
      throw InputError("max DSSIM must lie in 0..1");
    s.budget.max_dssim = *options.max_dssim;
  }
  clip::prepare_runtime(options.runtime);
  for (const auto& spec : options.models)
    s.models.push_back(make_face_model(spec, options.runtime));
}

Cloaker::~Cloaker() = default;
Cloaker::Cloaker(Cloaker&&) noexcept = default;
Cloaker& Cloaker::operator=(Cloaker&&) noexcept = default;

const CloakOptions& Cloaker::options() const {
  return impl_->options;
}
const Budget& Cloaker::budget() const {
  return impl_->budget;
}

bool Cloaker::random_weights() const {
  return std::any_of(impl_->models.begin(), impl_->models.end(),
                     [](const auto& m) { return m->random_weights(); });
}

std::string Cloaker::check(const CloakInput& input) const {
  if (input.image.empty() || input.image.type() != CV_8UC3) return "not an 8-bit BGR image";
  if (input.faces.empty()) return "no face found";
  const float min_face = impl_->options.min_face;
  float largest = 0;
  for (const Face& f : input.faces)
    largest = std::max(largest, std::min(f.box.width, f.box.height));
  if (largest < min_face) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "face too small to cloak: %.0f px (at least %.0f px; a smaller face has too "
                  "few pixels for the perceptual budget)",
                  largest, min_face);
    return buf;
  }
  return "";
}

void Cloaker::set_target_pool(const std::vector<PoolImage>& pool) {
  Impl& s = *impl_;
  s.pool_people.clear();
  s.pool_centroids.clear();
  std::map<std::string, std::vector<const PoolImage*>> by_person;
  for (const auto& p : pool) by_person[p.person].push_back(&p);
  for (const auto& [person, images] : by_person) {
    std::vector<torch::Tensor> centroids;
    for (std::size_t m = 0; m < s.models.size(); ++m) {
      torch::Tensor sum;
      for (const PoolImage* p : images) {
        torch::Tensor e = s.embed_crop_no_grad(m, p->image, p->face);
        sum = sum.defined() ? sum + e : e;
      }
      centroids.push_back(sum / sum.norm());
    }
    s.pool_people.push_back(person);
    s.pool_centroids.push_back(std::move(centroids));
  }
}

std::size_t Cloaker::target_people() const {
  return impl_->pool_people.size();
}

Work Cloaker::Impl::prepare(const CloakInput& input) const {
  Work w;
  w.input = &input;
  std::vector<const Face*> faces;
  for (const Face& f : input.faces) {
    if (big_enough(f, options.min_face)) {
      faces.push_back(&f);
    } else {
      ++w.small_faces;
    }
  }
  // The region: every crop's footprint in the image, with a margin for the interpolation.
  std::vector<std::vector<cv::Mat>> transforms(faces.size());
  cv::Rect2d box;
  for (std::size_t f = 0; f < faces.size(); ++f) {
    for (const auto& model : models) {
      transforms[f].push_back(model->crop_transform(input.image, *faces[f]));
      const cv::Rect2d footprint = crop_footprint(transforms[f].back(), model->input_size());
      box = box.area() > 0 ? (box | footprint) : footprint;
    }
  }
  const cv::Rect image_rect(0, 0, input.image.cols, input.image.rows);
  w.region = cv::Rect(cv::Point(static_cast<int>(std::floor(box.x)) - 2,
                                static_cast<int>(std::floor(box.y)) - 2),
                      cv::Point(static_cast<int>(std::ceil(box.x + box.width)) + 3,
                                static_cast<int>(std::ceil(box.y + box.height)) + 3)) &
             image_rect;
  if (!faces.empty() && (w.region.width < 16 || w.region.height < 16)) {
    throw InputError("cannot cloak " + input.name + ": the face region is " +
                     std::to_string(w.region.width) + "x" + std::to_string(w.region.height) +
                     " px, too small for the perceptual budget");
  }
  w.clean = image_to_rgb01(input.image(w.region).clone());
  w.delta = torch::zeros_like(w.clean);
  for (std::size_t f = 0; f < faces.size(); ++f) {
    std::vector<RegionWarp> per_model;
    for (std::size_t m = 0; m < models.size(); ++m) {
      per_model.push_back(
          make_region_warp(transforms[f][m], models[m]->input_size(), w.region, w.clean.sizes()));
    }
    w.warps.push_back(std::move(per_model));
  }
  torch::NoGradGuard no_grad;
  for (const auto& per_model : w.warps) {
    std::vector<torch::Tensor> embeddings;
    for (std::size_t m = 0; m < models.size(); ++m) {
      embeddings.push_back(models[m]->embed(warp_region(w.clean, per_model[m]))[0]);
    }
    w.clean_embeddings.push_back(std::move(embeddings));
  }
  w.best_delta = w.delta.clone();
  return w;
}

void Cloaker::Impl::choose_target(const std::vector<Work*>& users) const {
  // Fawkes' select_target_label: the candidate whose smallest distance to the user's faces is the
  // largest (here the distance is summed over the models).
  double best_score = -1;
  std::size_t best = 0;
  for (std::size_t c = 0; c < pool_people.size(); ++c) {
    double closest = std::numeric_limits<double>::infinity();
    for (const Work* w : users) {
      for (const auto& face : w->clean_embeddings) {
        double d = 0;
        for (std::size_t m = 0; m < models.size(); ++m)
          d += (face[m] - pool_centroids[c][m]).norm().item<double>();
        closest = std::min(closest, d);
      }
    }
    if (closest > best_score) {
      best_score = closest;
      best = c;
    }
  }
  for (Work* w : users) {
    w->target = pool_people[best];
    w->targets = pool_centroids[best];
  }
}

torch::Tensor Cloaker::Impl::objective(std::vector<Work>& batch,
                                       std::vector<double>& feature_loss) const {
  const bool fawkes = options.method == Method::fawkes;
  feature_loss.assign(batch.size(), 0.0);
  // Crops of every face of every image, per model, so each model runs once per step.
  std::vector<torch::Tensor> images(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i)
    images[i] = (batch[i].clean + batch[i].delta).clamp(0, 1);
  torch::Tensor total = torch::zeros({});
  for (std::size_t m = 0; m < models.size(); ++m) {
    std::vector<torch::Tensor> crops;
    std::vector<std::pair<std::size_t, std::size_t>> owner;  // (image, face)
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (std::size_t f = 0; f < batch[i].warps.size(); ++f) {
        crops.push_back(warp_region(images[i], batch[i].warps[f][m]));
        owner.emplace_back(i, f);
      }
    }
    if (crops.empty()) continue;
    const torch::Tensor stacked = torch::cat(crops);
    const torch::Tensor e = models[m]->embed(stacked);
    const torch::Tensor e_smooth = fawkes ? torch::Tensor() : models[m]->embed(smooth(stacked));
    for (std::size_t k = 0; k < owner.size(); ++k) {
      const auto [i, f] = owner[k];
      torch::Tensor term;
      if (fawkes) {
        term = (e[k] - batch[i].targets[m]).norm();
      } else {
        // LowKey's objective, with unit features (so the paper's division by |f(x)|^2 is 1).
        const torch::Tensor& clean = batch[i].clean_embeddings[f][m];
        term = -0.5 * ((e[k] - clean).pow(2).sum() + (e_smooth[k] - clean).pow(2).sum());
      }
      feature_loss[i] += term.item<double>();
      total = total + term;
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (budget.dssim_weight <= 0 || batch[i].warps.empty()) continue;
    torch::Tensor d = dssim_tensor(images[i], batch[i].clean);
    if (fawkes && budget.max_dssim > 0) {
      // Fawkes' penalty on the DSSIM over its bound (here over half of it, so that the iterates
      // stay inside the bound the projection enforces), scaled by the bound.
      d = torch::relu(d - 0.5 * budget.max_dssim) / budget.max_dssim;
    }
    total = total + budget.dssim_weight * d;
  }
  return total;
}

void Cloaker::Impl::project(Work& w) const {
  torch::NoGradGuard no_grad;
  const double eps = budget.max_linf / 255.0;
  w.delta = w.delta.clamp(-eps, eps);
  w.delta = (w.clean + w.delta).clamp(0, 1) - w.clean;
  if (budget.max_dssim >= 0)
    w.delta = scale_into_dssim(w.clean, w.delta, budget.max_dssim, /*quantize=*/false);
}

CloakResult Cloaker::Impl::finish(Work& w) const {
  torch::NoGradGuard no_grad;
  torch::Tensor delta = w.best_delta;
  if (budget.max_dssim >= 0) delta = scale_into_dssim(w.clean, delta, budget.max_dssim, true);
  const torch::Tensor cloaked = quantize((w.clean + delta).clamp(0, 1));
  CloakResult r;
  r.name = w.input->name;
  r.image = w.input->image.clone();
  if (!w.warps.empty()) to_u8(cloaked).copyTo(r.image(w.region));
  r.faces = w.warps.size();
  r.small_faces = w.small_faces;
  r.region = w.region;
  r.target = w.target;
  r.linf = linf(w.input->image, r.image);
  r.dssim = w.warps.empty() ? 0.0 : dssim(w.input->image(w.region), r.image(w.region));
  r.psnr = psnr(w.input->image(w.region), r.image(w.region));
  r.psnr_image = psnr(w.input->image, r.image);
  for (std::size_t m = 0; m < models.size(); ++m) {
    double shift = 0;
    for (std::size_t f = 0; f < w.warps.size(); ++f) {
      const torch::Tensor e = models[m]->embed(warp_region(cloaked, w.warps[f][m]))[0];
      shift += 1.0 - torch::dot(e, w.clean_embeddings[f][m]).item<double>();
    }
    r.model_shift.push_back(w.warps.empty() ? 0.0 : shift / static_cast<double>(w.warps.size()));
  }
  return r;
}

std::vector<CloakResult> Cloaker::cloak(const std::vector<CloakInput>& inputs) const {
  const Impl& s = *impl_;
  for (const auto& input : inputs) {
    if (const std::string why = check(input); !why.empty())
      throw InputError("cannot cloak " + input.name + ": " + why);
  }
  const bool fawkes = s.options.method == Method::fawkes;
  if (fawkes && s.pool_people.empty()) {
    throw InputError(
        "fawkes needs photos of other people to choose a target identity from (--targets DIR)");
  }
  std::vector<Work> all;
  all.reserve(inputs.size());
  for (const auto& input : inputs) all.push_back(s.prepare(input));
  if (fawkes) {
    if (s.options.separate_targets) {
      for (auto& w : all) s.choose_target({&w});
    } else {
      std::vector<Work*> users;
      for (auto& w : all) users.push_back(&w);
      s.choose_target(users);
    }
  }

  const auto batch_size = static_cast<std::size_t>(s.options.batch_size);
  const std::size_t batches = (all.size() + batch_size - 1) / batch_size;
  ProgressBar progress("cloaking (" + to_string(s.options.method) + ")",
                       batches * static_cast<std::uint64_t>(s.budget.steps + 1),
                       s.options.progress);
  // Step size: PGD's customary 2.5 eps / steps, at least a quarter level so that few-step runs
  // still move.
  const double eps = s.budget.max_linf / 255.0;
  const double alpha =
      std::max(2.5 * eps / std::max(1, s.budget.steps), eps > 0 ? 0.25 / 255.0 : 0.0);
  std::vector<CloakResult> results;
  for (std::size_t b0 = 0; b0 < all.size(); b0 += batch_size) {
    const auto start = Clock::now();
    std::vector<Work> batch(
        std::make_move_iterator(all.begin() + b0),
        std::make_move_iterator(all.begin() + std::min(all.size(), b0 + batch_size)));
    std::vector<double> feature_loss;
    for (int step = 0; step <= s.budget.steps; ++step) {
      std::vector<torch::Tensor> deltas;
      for (auto& w : batch) deltas.push_back(w.delta.requires_grad_(true));
      const torch::Tensor loss = s.objective(batch, feature_loss);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (feature_loss[i] < batch[i].best_loss) {
          batch[i].best_loss = feature_loss[i];
          batch[i].best_delta = batch[i].delta.detach().clone();
        }
      }
      progress.advance();
      if (step == s.budget.steps || !loss.requires_grad()) break;
      const auto grads = torch::autograd::grad({loss}, deltas);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        torch::NoGradGuard no_grad;
        // LowKey's budget is L_inf, for which the signed gradient is the steepest step. Fawkes'
        // is DSSIM: a step proportional to the gradient (scaled so its RMS entry moves alpha,
        // larger ones clipped by the L_inf cap) spends the structural budget on the pixels that
        // move the features most, not evenly.
        const torch::Tensor& g = grads[i];
        const torch::Tensor step = fawkes ? g / g.pow(2).mean().sqrt().clamp_min(1e-12) : g.sign();
        batch[i].delta = batch[i].delta.detach() - alpha * step;
        s.project(batch[i]);
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count() /
                           static_cast<double>(batch.size());
    for (auto& w : batch) {
      results.push_back(s.finish(w));
      results.back().seconds = seconds;
    }
  }
  progress.finish();
  return results;
}

// -------------------------------------------------------------------------------------------

namespace {

void check_pair(const cv::Mat& a, const cv::Mat& b) {
  if (a.empty() || a.size() != b.size() || a.type() != b.type() || a.depth() != CV_8U)
    throw InputError("budget metrics need two 8-bit images of the same size and type");
}

}  // namespace

double dssim(const cv::Mat& a, const cv::Mat& b) {
  check_pair(a, b);
  if (a.channels() != 3) throw InputError("DSSIM is measured on 3-channel images");
  torch::NoGradGuard no_grad;
  return dssim_tensor(image_to_rgb01(a.clone()), image_to_rgb01(b.clone())).item<double>();
}

double psnr(const cv::Mat& a, const cv::Mat& b) {
  check_pair(a, b);
  const double mse = cv::norm(a, b, cv::NORM_L2SQR) / static_cast<double>(a.total() * a.channels());
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

int linf(const cv::Mat& a, const cv::Mat& b) {
  check_pair(a, b);
  return static_cast<int>(cv::norm(a, b, cv::NORM_INF));
}

}  // namespace clipface::cloak
