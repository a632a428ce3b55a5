// Speed of `clipface watch` against the per-frame loop, measured in the same run.
//
//   build/bench/watch_speed [--embedders dlib,clip-random:ViT-B-32] [--precision bf16|fp32]
//                           [--detect-side 480] [--parts speed,latency,streams]
//
// Clips: the shared Obama clip (854x480, 29.97 fps, 153 frames) scaled with ffmpeg to 640x360
// and 1280x720 in a temporary folder, and a 10 fps copy of the 640x360 one for the streams.
// Gallery: the face_recognition examples enrolled with each embedder (CLIP with random weights:
// the same FLOPs as real ones, so right for speed and meaningless for accuracy).
//
//  speed    end-to-end fps and mean milliseconds per frame of each stage, annotated video
//           written; the baseline is the loop people write: decode, Recognizer::identify (detect,
//           embed every face, vote), annotate, encode, one frame after the other
//  latency  the 640x360 clip read at its real rate (a stand-in for a camera): p50/p95 from a
//           frame leaving the decoder to its decision, and frames dropped
//  streams  four 640x360 sources at 10 fps each, read at their real rate, at once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core/utility.hpp>

#include "clipface/allocator.hpp"
#include "clipface/recognizer.hpp"
#include "clipface/video.hpp"
#include "clipface/video_writer.hpp"
#include "clipface/watch.hpp"
#include "clipface/watch_sinks.hpp"

namespace {
using namespace clipface;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

fs::path shared_dir() {
  const char* env = std::getenv("CLIPFACE_SHARED");
  return env && *env ? fs::path(env) : fs::path(CLIPFACE_DEFAULT_SHARED);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

void ffmpeg(const std::string& args) {
  const std::string command = "ffmpeg -v error -y " + args;
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "watch_speed: failed: %s\n", command.c_str());
    std::exit(1);
  }
}

struct LoopResult {
  double fps = 0;
  double decode = 0, identify = 0, encode = 0;  // mean ms per frame
  long faces = 0;
};

// The per-frame loop: every face of every frame detected, embedded and voted on.
LoopResult per_frame_loop(const Recognizer& recognizer, const fs::path& clip, const fs::path& out) {
  auto source = open_source(clip.string());
  const SourceInfo info = source->info();
  VideoWriterOptions o;
  o.fps = info.fps;
  VideoWriter writer(out, info.size, o);
  LoopResult r;
  long frames = 0;
  const auto start = Clock::now();
  while (true) {
    auto t0 = Clock::now();
    auto frame = source->next();
    if (!frame) break;
    auto t1 = Clock::now();
    const Identification id = recognizer.identify(frame->image);
    auto t2 = Clock::now();
    writer.write(annotate(frame->image, id.faces), frame->time);
    auto t3 = Clock::now();
    r.decode += std::chrono::duration<double, std::milli>(t1 - t0).count();
    r.identify += std::chrono::duration<double, std::milli>(t2 - t1).count();
    r.encode += std::chrono::duration<double, std::milli>(t3 - t2).count();
    r.faces += static_cast<long>(id.faces.size());
    ++frames;
  }
  writer.close();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.fps = frames / seconds;
  r.decode /= frames;
  r.identify /= frames;
  r.encode /= frames;
  return r;
}

WatchReport watch(const Gallery& gallery, const Embedder& embedder, WatchOptions options,
                  const std::vector<fs::path>& clips, const fs::path& out_dir, bool annotate) {
  Watch w(gallery, embedder, options);
  for (std::size_t i = 0; i < clips.size(); ++i) {
    std::vector<std::shared_ptr<WatchSink>> sinks;
    if (annotate) {
      sinks.push_back(
          std::make_shared<AnnotatedVideoSink>(out_dir / ("watch" + std::to_string(i) + ".mp4")));
    }
    w.add_source(clips[i].string(), sinks);
  }
  return w.run();
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();  // as the CLI does
  std::vector<std::string> embedders = {"dlib", "clip-random:ViT-B-32"};
  std::string precision = "bf16";
  int detect_side = 480;
  std::vector<std::string> parts = {"speed", "latency", "streams"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--embedders" && i + 1 < argc) {
      embedders = split(argv[++i]);
    } else if (arg == "--precision" && i + 1 < argc) {
      precision = argv[++i];
    } else if (arg == "--detect-side" && i + 1 < argc) {
      detect_side = std::stoi(argv[++i]);
    } else if (arg == "--cv-threads" && i + 1 < argc) {
      cv::setNumThreads(std::stoi(argv[++i]));
    } else if (arg == "--parts" && i + 1 < argc) {
      parts = split(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: watch_speed [--embedders A,B] [--precision bf16|fp32] [--detect-side N] "
                   "[--parts speed,latency,streams]\n");
      return 2;
    }
  }
  auto wanted = [&](const char* part) {
    return std::find(parts.begin(), parts.end(), part) != parts.end();
  };
  const fs::path clip = shared_dir() / "data/faces/videos/obama_hieubkvn123.mp4";
  const fs::path people_dir = shared_dir() / "data/faces/named/face_recognition_examples";
  if (!fs::exists(clip) || !fs::exists(people_dir)) {
    std::fprintf(stderr, "watch_speed: the shared data folder is missing (%s)\n", clip.c_str());
    return 1;
  }
  const fs::path tmp = fs::temp_directory_path() / ("watch_speed-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const fs::path clip360 = tmp / "obama-640x360.mp4", clip720 = tmp / "obama-1280x720.mp4";
  const fs::path clip360_10 = tmp / "obama-640x360-10fps.mp4";
  ffmpeg("-i " + clip.string() + " -an -vf scale=640:360 -c:v libx264 -crf 20 " + clip360.string());
  ffmpeg("-i " + clip.string() + " -an -vf scale=1280:720 -c:v libx264 -crf 20 " +
         clip720.string());
  ffmpeg("-i " + clip.string() + " -an -vf scale=640:360 -r 10 -c:v libx264 -crf 20 " +
         clip360_10.string());

  std::printf("watch_speed: load average before %s, detect side %d, CLIP precision %s\n\n",
              load_average().c_str(), detect_side, precision.c_str());
  for (const std::string& spec : embedders) {
    PipelineOptions po;
    po.embedder = spec;
    if (spec.rfind("clip", 0) == 0)
      po.embedder_options.runtime.precision = parse_precision(precision);
    const FacePipeline pipeline(po);
    Gallery gallery = Gallery::create(tmp / ("gallery-" + std::to_string(&spec - embedders.data())),
                                      pipeline.embedder().info());
    EnrollOptions eo;
    eo.progress = false;
    enroll_people(gallery, pipeline, list_people(people_dir), eo);
    WatchOptions options;
    options.vote = gallery.vote_rule();
    options.detect_side = detect_side;
    const Recognizer recognizer(gallery, pipeline, options.vote);
    const std::string name = spec.rfind("clip", 0) == 0 ? spec + " " + precision : spec;

    if (wanted("speed")) {
      std::printf("## %s: end to end, annotated video written (ms are means per frame)\n\n",
                  name.c_str());
      std::printf(
          "| clip | per-frame loop fps | watch fps | speed-up | decode | detect | track | embed | "
          "decide | write | faces/s | embeddings/s | loop: decode / identify / annotate+encode ms "
          "|\n");
      std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
      for (const fs::path& c : {clip360, clip720}) {
        const LoopResult loop = per_frame_loop(recognizer, c, tmp / "loop.mp4");
        const WatchReport report = watch(gallery, pipeline.embedder(), options, {c}, tmp, true);
        const SourceReport& s = report.sources.at(0);
        const StageMilliseconds& m = s.mean_ms;
        std::printf(
            "| %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %.0f | %.1f | "
            "%.1f / %.1f / %.1f |\n",
            c.stem().string().c_str() + 6, loop.fps, s.fps, s.fps / loop.fps, m.decode, m.detect,
            m.track, m.embed, m.decide, m.write, s.faces / s.seconds, s.embeddings / s.seconds,
            loop.decode, loop.identify, loop.encode);
        std::fflush(stdout);
      }
      std::printf("\n");
    }
    if (wanted("latency")) {
      WatchOptions live = options;
      live.source.realtime = true;
      const SourceReport s =
          watch(gallery, pipeline.embedder(), live, {clip360}, tmp, true).sources.at(0);
      std::printf(
          "%s, 640x360 read at 29.97 fps: latency decoded->decided p50 %.1f ms, p95 %.1f ms; "
          "%lld of %lld frames processed, %lld dropped\n\n",
          name.c_str(), s.latency_p50_ms, s.latency_p95_ms, static_cast<long long>(s.processed),
          static_cast<long long>(s.decoded), static_cast<long long>(s.dropped));
    }
    if (wanted("streams")) {
      WatchOptions live = options;
      live.source.realtime = true;
      const WatchReport report =
          watch(gallery, pipeline.embedder(), live,
                {clip360_10, clip360_10, clip360_10, clip360_10}, tmp, false);
      std::printf("%s, four 640x360 sources at 10 fps at once:", name.c_str());
      for (const SourceReport& s : report.sources) {
        std::printf(" [%.1f fps, %lld/%lld processed, p95 %.0f ms]", s.fps,
                    static_cast<long long>(s.processed), static_cast<long long>(s.decoded),
                    s.latency_p95_ms);
      }
      std::printf("\n\n");
    }
  }
  std::printf("watch_speed: load average after %s\n", load_average().c_str());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}
