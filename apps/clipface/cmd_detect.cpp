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
};

json face_json(const Face& face) {
  json landmarks = json::array();
  for (const auto& p : face.landmarks) landmarks.push_back({p.x, p.y});
  return {{"box", {face.box.x, face.box.y, face.box.width, face.box.height}},
          {"landmarks", landmarks},
          {"score", face.score}};
}

const bool registered = register_command(
    "detect", "find faces (box, 5 landmarks, score) and optionally save aligned crops",
    [](CLI::App& app) -> Runner {
      auto a = std::make_shared<DetectArgs>();
      app.add_option("images", a->images, "image files")->required();
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
      return [a]() -> int {
        const auto detector = make_detector(a->detector);
        const CropStyle style = parse_crop_style(a->crop_style);
        for (const auto& file : a->images) {
          const cv::Mat image = load_image(file);
          const std::vector<Face> faces = detector->detect(image);
          std::vector<fs::path> crops;
          if (!a->save_crops.empty()) {
            crops = save_crops(align_faces(image, faces, a->crop_size, style), a->save_crops,
                               fs::path(file).stem().string());
          }
          if (a->json) {
            json out = {{"file", file},
                        {"width", image.cols},
                        {"height", image.rows},
                        {"detector", detector->name()},
                        {"faces", json::array()}};
            for (std::size_t i = 0; i < faces.size(); ++i) {
              json face = face_json(faces[i]);
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
            std::printf(
                "  #%zu score %.3f box %.0f,%.0f %.0fx%.0f eyes (%.0f,%.0f) (%.0f,%.0f)%s%s\n", i,
                f.score, f.box.x, f.box.y, f.box.width, f.box.height, f.landmarks[0].x,
                f.landmarks[0].y, f.landmarks[1].x, f.landmarks[1].y,
                i < crops.size() ? " -> " : "", i < crops.size() ? crops[i].c_str() : "");
          }
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
