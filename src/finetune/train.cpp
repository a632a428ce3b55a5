// train_prompts() and the prompt / loss study over the tensor-level PromptTrainer.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "clip/engine.hpp"
#include "clipface/errors.hpp"
#include "clipface/progress.hpp"
#include "clipface/tokenizer.hpp"
#include "finetune/internal.hpp"
#include "finetune/text_tower.hpp"

namespace clipface::finetune {

namespace detail {

torch::Tensor prompt_tokens(const ClipModel& model, const std::vector<std::string>& classes,
                            const std::string& prompt_template) {
  const Tokenizer& tokenizer = model.tokenizer();
  const int context = model.info().context_length;
  torch::Tensor tokens = torch::zeros({static_cast<int64_t>(classes.size()), context}, torch::kLong);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const auto ids = tokenizer.tokenize(fill_template(prompt_template, display_name(classes[c])),
                                        context);
    for (int i = 0; i < context; ++i) tokens[static_cast<int64_t>(c)][i] = ids[static_cast<std::size_t>(i)];
  }
  return tokens;
}

Matrix to_matrix(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  Matrix m(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)));
  std::memcpy(m.data.data(), c.data_ptr<float>(), m.data.size() * sizeof(float));
  return m;
}

torch::Tensor to_tensor(const Matrix& m) {
  return torch::from_blob(const_cast<float*>(m.data.data()),
                          {static_cast<int64_t>(m.rows), static_cast<int64_t>(m.cols)},
                          torch::kFloat)
      .clone();
}

Matrix class_embeddings(ClipModel& model, const torch::Tensor& tokens) {
  auto& impl = model.impl();
  torch::NoGradGuard no_grad;
  torch::Tensor features = impl.net->encode_text(tokens.to(impl.device));
  features = features / features.norm(2, -1, true);
  return to_matrix(features);
}

}  // namespace detail

namespace {

double accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (labels.numel() == 0) return -1;
  return logits.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
}

torch::Tensor index_tensor(const std::vector<std::size_t>& rows, torch::Device device) {
  std::vector<int64_t> v(rows.begin(), rows.end());
  return torch::tensor(v, torch::kLong).to(device);
}

std::string epoch_status(const EpochStats& s) {
  char buf[160];
  if (s.validation_accuracy >= 0) {
    std::snprintf(buf, sizeof buf, "epoch %d loss %.4f train %.1f%% val %.1f%%", s.epoch, s.loss,
                  100 * s.train_accuracy, 100 * s.validation_accuracy);
  } else {
    std::snprintf(buf, sizeof buf, "epoch %d loss %.4f train %.1f%%", s.epoch, s.loss,
                  100 * s.train_accuracy);
  }
  return buf;
}

}  // namespace

TrainReport train_prompts(ClipModel& model, const FaceSet& data, const Split& split,
                          const TrainOptions& options) {
  validate(options);
  if (data.classes.size() < 2) {
    throw InputError("fine-tuning needs at least two people (found " +
                     std::to_string(data.classes.size()) + "): nothing to contrast");
  }
  if (split.train.empty()) throw InputError("fine-tuning needs at least one training image");
  if (data.embeddings.rows != data.labels.size()) {
    throw InputError("face set has " + std::to_string(data.embeddings.rows) +
                     " embeddings for " + std::to_string(data.labels.size()) + " labels");
  }
  if (options.threads > 0) torch::set_num_threads(options.threads);
  auto& impl = model.impl();
  const torch::Device device = impl.device;

  const torch::Tensor features = detail::to_tensor(data.embeddings).to(device);
  std::vector<int64_t> label_values(data.labels.begin(), data.labels.end());
  const torch::Tensor labels = torch::tensor(label_values, torch::kLong).to(device);
  const torch::Tensor train_rows = index_tensor(split.train, device);
  const torch::Tensor val_rows = index_tensor(split.validation, device);
  const torch::Tensor train_x = features.index_select(0, train_rows);
  const torch::Tensor train_y = labels.index_select(0, train_rows);
  const torch::Tensor val_x = features.index_select(0, val_rows);
  const torch::Tensor val_y = labels.index_select(0, val_rows);

  const torch::Tensor tokens = detail::prompt_tokens(model, data.classes, options.prompt_template);
  const auto n_train = static_cast<int64_t>(split.train.size());
  const int64_t steps_per_epoch = (n_train + options.batch_size - 1) / options.batch_size;
  const int64_t total_steps = steps_per_epoch * options.epochs;

  TrainReport report;
  report.random_weights = model.info().random_weights;
  report.steps = static_cast<int>(total_steps);
  {
    detail::PromptTrainer trainer(impl.net, tokens, options, total_steps);
    report.context_length = static_cast<int>(trainer.context_length());
    report.initial_validation_accuracy = accuracy(trainer.logits(val_x), val_y);
    double best_val = -2;
    detail::PromptTrainer::Snapshot best;
    ProgressBar bar("fine-tuning", static_cast<std::uint64_t>(total_steps), options.progress);
    std::vector<int64_t> order(static_cast<std::size_t>(n_train));
    double step_seconds = 0;
    for (int epoch = 1; epoch <= options.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
      std::mt19937_64 rng(options_seed_mix(split.seed, static_cast<std::uint64_t>(epoch)));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
      const torch::Tensor shuffled = torch::tensor(order, torch::kLong).to(device);
      double loss_sum = 0;
      for (int64_t b = 0; b < n_train; b += options.batch_size) {
        const torch::Tensor rows = shuffled.slice(0, b, std::min(n_train, b + options.batch_size));
        const auto t0 = std::chrono::steady_clock::now();
        const double loss = trainer.step(train_x.index_select(0, rows),
                                         train_y.index_select(0, rows));
        step_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        loss_sum += loss * static_cast<double>(rows.size(0));
        bar.advance(1, "epoch " + std::to_string(epoch) + " loss " + std::to_string(loss));
      }
      EpochStats stats;
      stats.epoch = epoch;
      stats.loss = loss_sum / static_cast<double>(n_train);
      stats.train_accuracy = accuracy(trainer.logits(train_x), train_y);
      stats.validation_accuracy = accuracy(trainer.logits(val_x), val_y);
      stats.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      report.epochs.push_back(stats);
      bar.update(static_cast<std::uint64_t>(epoch * steps_per_epoch), epoch_status(stats));
      if (options.on_epoch) options.on_epoch(stats);
      // Without validation images the last epoch is kept.
      const double score = stats.validation_accuracy >= 0 ? stats.validation_accuracy : 0;
      if (!options.keep_best || score > best_val || stats.validation_accuracy < 0) {
        best_val = score;
        report.best_epoch = epoch;
        if (options.keep_best && epoch < options.epochs) best = trainer.snapshot();
        else best = {};
      }
    }
    bar.finish(report.epochs.empty() ? std::string() : epoch_status(report.epochs.back()));
    if (!best.tensors.empty()) trainer.restore(best);
    report.train_accuracy = accuracy(trainer.logits(train_x), train_y);
    report.validation_accuracy = accuracy(trainer.logits(val_x), val_y);
    trainer.finish();
    report.seconds_per_step = total_steps > 0 ? step_seconds / static_cast<double>(total_steps) : 0;
  }
  report.class_embeddings = detail::class_embeddings(model, tokens);
  report.logit_scale = model.logit_scale();
  return report;
}

std::vector<StudyRow> run_study(ClipModel& model, const FaceSet& data, const Split& split,
                                const std::vector<TrainOptions>& variants,
                                const OpenSetProbes* probes, float min_confidence) {
  auto& impl = model.impl();
  // Every variant starts from the same base weights.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> originals;
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : detail::text_tower_tensors(*impl.net)) {
      originals.emplace_back(tensor, tensor.detach().clone());
    }
  }
  auto reset = [&] {
    torch::NoGradGuard no_grad;
    for (auto& [live, saved] : originals) {
      if (live.scalar_type() != saved.scalar_type()) live.set_data(saved.clone());
      else live.copy_(saved);
    }
  };
  std::vector<StudyRow> rows;
  try {
    for (const auto& variant : variants) {
      reset();
      StudyRow row;
      row.options = variant;
      row.report = train_prompts(model, data, split, variant);
      if (probes) {
        const auto classifier = PromptClassifier::from_training(row.report, data, variant);
        row.open_set = evaluate_open_set(classifier, *probes, min_confidence);
      }
      rows.push_back(std::move(row));
    }
  } catch (...) {
    reset();
    throw;
  }
  reset();
  return rows;
}

}  // namespace clipface::finetune
