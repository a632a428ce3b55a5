// clipface detect IMG...: faces with boxes, five landmarks and scores; optionally the aligned
// crops, so users see what an embedder would see.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "clipface/align.hpp"
#include "clipface/detect.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "command.hpp"
#include "inputs.hpp"

namespace clipface::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DetectArgs {
  std::vector<std::string> images;
  bool json = false;
  DetectorOptions detector;
  std::string save_crops;
  std::string crop_style = "loose";
  int crop_size = 224;
  InputPolicy policy;
};

json face_json(const Face& face, cv::Size image) {
  json landmarks = json::array();
  for (const auto& p : face.landmarks) landmarks.push_back({p.x, p.y});
  json out;
  add_box_fields(out, face, image);
  out["landmarks"] = landmarks;
  out["score"] = face.score;
  return out;
}

const bool registered = register_command(
    "detect", "find faces (box, 5 landmarks, score) and optionally save aligned crops",
    [](CLI::App& app) -> Runner {
      auto a = std::make_shared<DetectArgs>();
      app.add_option("images", a->images, "image files or folders (searched recursively)")
          ->required();
      app.add_flag("--json", a->json, "one JSON object per image on stdout");
      app.add_option("--detector", a->detector.kind, "yunet or scrfd")
          ->capture_default_str()
          ->check(CLI::IsMember({"yunet", "scrfd"}));
      app.add_option("--detector-model", a->detector.model,
                     "model file or name under the models folder (default: the detector's own)");
      app.add_option("--score-threshold", a->detector.score_threshold, "minimum detection score")
          ->capture_default_str()
          ->check(CLI::Range(0.0f, 1.0f));
      app.add_option("--min-size", a->detector.min_face_size, "minimum face size in pixels")
          ->capture_default_str();
      app.add_option("--max-faces", a->detector.max_faces, "keep the best N faces (0 = all)")
          ->capture_default_str();
      app.add_option("--max-side", a->detector.max_side,
                     "scale larger images down to this for detection (0 = never)")
          ->capture_default_str();
      app.add_option("--save-crops", a->save_crops, "write aligned crops into this folder");
      app.add_option("--crop-style", a->crop_style, "tight or loose")
          ->capture_default_str()
          ->check(CLI::IsMember({"tight", "loose"}));
      app.add_option("--crop-size", a->crop_size, "side of the saved crops in pixels")
          ->capture_default_str()
          ->check(CLI::Range(8, 4096));
      a->policy.add_to(app);
      return [a]() -> int {
        const std::vector<fs::path> files = expand_image_inputs(a->images);
        if (files.empty()) throw InputError("no image files in the folders given");
        SkipList skips;
        if (a->policy.strict) require_readable_images(files);
        const auto detector = make_detector(a->detector);
        const CropStyle style = parse_crop_style(a->crop_style);
        for (const auto& path : files) {
          const std::string file = path.string();
          cv::Mat image;
          try {
            image = load_image(path);
          } catch (const ImageError& e) {
            skips.skip(file, e.reason(), e.exit_code());
            if (a->json) {
              std::cout
                  << json{{"file", file}, {"skipped", e.reason()}, {"code", e.exit_code()}}.dump()
                  << "\n";
            }
            continue;
          }
          skips.use();
          const std::vector<Face> faces = detector->detect(image);
          std::vector<fs::path> crops;
          if (!a->save_crops.empty()) {
            crops = save_crops(align_faces(image, faces, a->crop_size, style), a->save_crops,
                               path.stem().string());
          }
          if (a->json) {
            json out = {{"file", file},
                        {"width", image.cols},
                        {"height", image.rows},
                        {"detector", detector->name()},
                        {"faces", json::array()}};
            for (std::size_t i = 0; i < faces.size(); ++i) {
              json face = face_json(faces[i], image.size());
              if (i < crops.size()) face["crop"] = crops[i].string();
              out["faces"].push_back(face);
            }
            std::cout << out.dump() << "\n";
            continue;
          }
          std::printf("%s (%dx%d): %zu face%s\n", file.c_str(), image.cols, image.rows,
                      faces.size(), faces.size() == 1 ? "" : "s");
          for (std::size_t i = 0; i < faces.size(); ++i) {
            const Face& f = faces[i];
            const cv::Rect2f box = clip_box(f.box, image.size());
            std::printf(
                "  #%zu score %.3f box %.0f,%.0f %.0fx%.0f eyes (%.0f,%.0f) (%.0f,%.0f)%s%s\n", i,
                f.score, box.x, box.y, box.width, box.height, f.landmarks[0].x, f.landmarks[0].y,
                f.landmarks[1].x, f.landmarks[1].y, i < crops.size() ? " -> " : "",
                i < crops.size() ? crops[i].c_str() : "");
          }
        }
        skips.print_summary("images");
        return skips.exit_code(a->policy);
      };
    });

}  // namespace
}  // namespace clipface::app
