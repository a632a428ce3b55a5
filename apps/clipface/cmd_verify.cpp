// clipface verify IMG1 IMG2: similarity of the most prominent face of each, and same/different.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "clipface/image.hpp"
#include "clipface/recognizer.hpp"
#include "command.hpp"
#include "pipeline_args.hpp"

namespace clipface::app {
namespace {

struct VerifyArgs {
  std::string image1, image2;
  float threshold = -1;
  bool json = false;
  PipelineArgs pipeline;
};

const bool registered = register_command(
    "verify", "compare the faces of two images 1:1 (same person or not)", [](CLI::App& app) {
      auto args = std::make_shared<VerifyArgs>();
      app.add_option("image1", args->image1, "first image")->required();
      app.add_option("image2", args->image2, "second image")->required();
      app.add_option("--threshold", args->threshold,
                     "largest L2 distance between unit vectors meaning 'same' (default per "
                     "embedder)");
      app.add_flag("--json", args->json, "print JSON");
      args->pipeline.add_to(app);
      return [args]() {
        const cv::Mat a = load_image(args->image1);
        const cv::Mat b = load_image(args->image2);
        const FacePipeline pipeline(args->pipeline.options());
        const float threshold =
            args->threshold >= 0 ? args->threshold : default_vote(pipeline.embedder().info()).threshold;
        const Verification v =
            verify_faces(pipeline, a, b, threshold, args->image1, args->image2);
        if (args->json) {
          nlohmann::json out{{"image1", args->image1},   {"image2", args->image2},
                             {"cosine", v.cosine},       {"distance", v.l2},
                             {"threshold", v.threshold}, {"same", v.same},
                             {"embedder", pipeline.embedder().info().name}};
          std::printf("%s\n", out.dump().c_str());
        } else {
          std::printf("cosine %.4f  distance %.4f  threshold %.3f  -> %s\n", v.cosine, v.l2,
                      v.threshold, v.same ? "same person" : "different people");
        }
        return 0;
      };
    });

}  // namespace
}  // namespace clipface::app
