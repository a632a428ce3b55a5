// Options shared by the commands that detect and embed faces (enroll, add, identify, verify):
// detector settings, embedder spec, crop style, device and precision.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "clipface/recognizer.hpp"

namespace clipface::app {

struct PipelineArgs {
  std::string detector = "yunet";
  std::string detector_model;
  float score_threshold = 0.6f;
  float min_face = 0;
  int max_faces = 0;
  std::string embedder;  // "" = the command's default (the gallery's model, else dlib)
  std::string crop_style;
  std::string device = "cpu";
  std::string precision = "auto";
  int threads = 0;
  bool flip = false;
  float antispoof = -1;    // < 0: no gate
  std::string attributes;  // "" or "age,gender,emotion"

  void add_to(CLI::App& app);
  // The per-face steps: --antispoof (identify, enroll, add) and --attributes (identify).
  void add_analysis_to(CLI::App& app, bool with_attributes);
  // `fallback` is used when --embedder was not given; the crop style likewise.
  PipelineOptions options(const std::string& fallback_embedder = "dlib",
                          const std::string& fallback_crop_style = "") const;
};

// The embedder spec that reproduces a gallery's embedding space ("dlib", "clip:<file>", ...).
std::string embedder_spec_for(const EmbedderInfo& info);

}  // namespace clipface::app
