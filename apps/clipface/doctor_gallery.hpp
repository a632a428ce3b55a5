// `clipface doctor GALLERY`: the gallery's health report (clipface/health.hpp) as text, JSON or
// an HTML page with crops. Kept apart from cmd_doctor.cpp so the system report (issue 14) and the
// gallery report share one command without sharing code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "pipeline_args.hpp"

namespace clipface::app {

struct GalleryDoctorArgs {
  std::string gallery;
  std::string html;  // folder for index.html and the crops
  bool json = false;
  bool no_model_check = false;
  PipelineArgs pipeline;  // --embedder etc. for the model check (default: the gallery's)
};

void add_gallery_doctor_options(CLI::App& app, GalleryDoctorArgs& args);
// Prints the report; returns 0 (no problem), 1 when it found problems (not just warnings).
int run_gallery_doctor(const GalleryDoctorArgs& args);

}  // namespace clipface::app
