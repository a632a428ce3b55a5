// The fine-tuning hyper-parameters (finetune::TrainOptions, the paper's values by default) as
// options, shared by `finetune` and the prompt-classifier evaluations (`eval openset --classifier
// prompts`, `eval prompts`). The template and the loss stay each command's own: one, or several
// to compare.
#pragma once

#include <CLI/CLI.hpp>

#include "clipface/finetune.hpp"

namespace clipface::app {

struct TrainingArgs {
  finetune::TrainOptions train;
  bool full_context = false;
  bool no_keep_best = false;

  void add_to(CLI::App& app);
  finetune::TrainOptions options() const;  // with --full-context and --no-keep-best applied
};

}  // namespace clipface::app
