#include "train_args.hpp"

namespace clipface::app {

void TrainingArgs::add_to(CLI::App& app) {
  app.add_option("--epochs", train.epochs, "epochs")->capture_default_str();
  app.add_option("--batch-size", train.batch_size, "images per step")->capture_default_str();
  app.add_option("--lr", train.learning_rate, "initial learning rate (cosine annealing to 0)")
      ->capture_default_str();
  app.add_option("--weight-decay", train.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--beta1", train.beta1, "AdamW beta1")->capture_default_str();
  app.add_option("--beta2", train.beta2, "AdamW beta2")->capture_default_str();
  app.add_option("--eps", train.eps, "AdamW eps")->capture_default_str();
  app.add_option("--arc-margin", train.arcface_margin, "ArcFace angular margin (radians)")
      ->capture_default_str();
  app.add_option("--arc-scale", train.arcface_scale, "ArcFace scale")->capture_default_str();
  app.add_option("--triplet-margin", train.triplet_margin, "triplet margin (cosine)")
      ->capture_default_str();
  app.add_flag("--full-context", full_context, "run all 77 tokens (slower, same result)");
  app.add_flag("--no-keep-best", no_keep_best, "keep the last epoch, not the best by validation");
}

finetune::TrainOptions TrainingArgs::options() const {
  finetune::TrainOptions o = train;
  o.truncate_context = !full_context;
  o.keep_best = !no_keep_best;
  return o;
}

}  // namespace clipface::app
