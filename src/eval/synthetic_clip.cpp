// Synthetic clips for tracking: real face photos pasted on scripted paths (see tracking.hpp).
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "clipface/errors.hpp"
#include "clipface/eval/tracking.hpp"
#include "clipface/video_writer.hpp"

namespace clipface::eval {
namespace {

// Where an actor is at time t: centre, face side (pixels), head roll (degrees); absent when
// `present` is false (outside the script, or off stage between an exit and the return).
struct Pose {
  bool present = false;
  cv::Point2f centre;
  float side = 0;
  float roll = 0;
};

// A path: linear between timed waypoints; absent before the first, after the last, and where
// a waypoint says so (the segment that starts at it).
struct Waypoint {
  double t;
  float x, y, side;
  bool absent_after = false;
};

struct Script {
  std::vector<Waypoint> path;
  double roll_phase = 0;
  int depth = 0;  // drawing order: larger is nearer (drawn later, hides the others)
};

Pose pose_at(const Script& s, double t) {
  Pose p;
  const auto& w = s.path;
  if (w.empty() || t < w.front().t || t > w.back().t) return p;
  std::size_t k = 0;
  while (k + 1 < w.size() && w[k + 1].t < t) ++k;
  if (w[k].absent_after && k + 1 < w.size()) return p;
  const Waypoint& a = w[k];
  const Waypoint& b = k + 1 < w.size() ? w[k + 1] : w[k];
  const double u = b.t > a.t ? (t - a.t) / (b.t - a.t) : 0.0;
  p.present = true;
  p.centre = {static_cast<float>(a.x + u * (b.x - a.x)), static_cast<float>(a.y + u * (b.y - a.y))};
  p.side = static_cast<float>(a.side + u * (b.side - a.side));
  p.roll = static_cast<float>(7.0 * std::sin(2 * std::numbers::pi * t / 2.5 + s.roll_phase));
  return p;
}

// The scripts of the actors: two walkers crossing each other (one passes the pillar), one who
// leaves on the right and comes back two seconds later, one who stays near a spot; more actors
// repeat the roles lower in the frame.
std::vector<Script> write_scripts(std::size_t actors, cv::Size size, double seconds,
                                  std::mt19937_64& rng) {
  std::uniform_real_distribution<double> jitter(-1, 1);
  const float W = static_cast<float>(size.width), H = static_cast<float>(size.height);
  const double T = seconds;
  std::vector<Script> scripts;
  for (std::size_t i = 0; i < actors; ++i) {
    const int role = static_cast<int>(i % 4);
    const float lane = static_cast<float>(i / 4) * 0.12f * H;  // later rounds walk lower
    Script s;
    s.roll_phase = 3.0 * jitter(rng);
    const float speed = static_cast<float>(0.16 * W * (1 + 0.15 * jitter(rng)));  // px per second
    switch (role) {
      case 0: {  // left to right, all the way, behind the pillar at mid-width
        const float side = static_cast<float>(0.19 * H * (1 + 0.1 * jitter(rng)));
        const float y = static_cast<float>(0.30 * H) + lane;
        const double start = 0.2 * std::abs(jitter(rng));
        const float x0 = -0.05f * W;
        s.path = {{start, x0, y, side},
                  {T, x0 + speed * static_cast<float>(T - start), y + 0.02f * H, side * 1.1f}};
        s.depth = 1;
        break;
      }
      case 1: {  // right to left, crossing the first walker in front of it, left of the pillar
        const float side = static_cast<float>(0.23 * H * (1 + 0.1 * jitter(rng)));
        const float y = static_cast<float>(0.33 * H) + lane;
        // Where the walker before is at a quarter of the clip (left of the pillar): meet there.
        const double meet = 0.25 * T;
        const float x_meet = pose_at(scripts.back(), meet).centre.x;
        const float x0 = x_meet + speed * static_cast<float>(meet);
        s.path = {{0.0, x0, y, side}, {T, x0 - speed * static_cast<float>(T), y - 0.02f * H, side}};
        s.depth = 3;
        break;
      }
      case 2: {  // walks off the right edge, comes back two seconds later
        const float side = static_cast<float>(0.18 * H * (1 + 0.1 * jitter(rng)));
        const float y = static_cast<float>(0.64 * H) + lane;
        const float x0 = 0.72f * W;
        const float off = W + side;  // fully outside
        const double out = (off - x0) / speed;
        const double back = out + 2.0;
        s.path = {{0.0, x0, y, side},
                  {out, off, y, side, true},
                  {back, off, y, side},
                  {back + 1.5, 0.78f * W, y, side * 1.05f},
                  {T, 0.74f * W, y, side * 1.05f}};
        s.depth = 2;
        break;
      }
      default: {  // stays near a spot, turning a little
        const float side = static_cast<float>(0.21 * H * (1 + 0.1 * jitter(rng)));
        const float x = static_cast<float>(0.2 * W), y = static_cast<float>(0.66 * H) + lane;
        s.path = {{0.0, x, y, side},
                  {T / 2, x + 0.06f * W, y - 0.02f * H, side},
                  {T, x, y, side * 0.95f}};
        s.depth = 2;
        break;
      }
    }
    scripts.push_back(std::move(s));
  }
  return scripts;
}

cv::Mat make_background(cv::Size size, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> colour(40, 200);
  cv::Mat bg(size, CV_8UC3);
  const cv::Vec3f top(colour(rng), colour(rng), colour(rng)),
      bottom(colour(rng), colour(rng), colour(rng));
  for (int y = 0; y < size.height; ++y) {
    const float u = static_cast<float>(y) / size.height;
    const cv::Vec3f c = top * (1 - u) + bottom * u;
    bg.row(y).setTo(cv::Scalar(c[0], c[1], c[2]));
  }
  std::uniform_int_distribution<int> px(0, size.width), py(0, size.height),
      extent(20, size.height / 2);
  for (int i = 0; i < 14; ++i) {  // furniture, posters, doors
    const cv::Point a(px(rng), py(rng));
    cv::rectangle(bg, cv::Rect(a, cv::Size(extent(rng), extent(rng))),
                  cv::Scalar(colour(rng), colour(rng), colour(rng)), cv::FILLED);
  }
  cv::GaussianBlur(bg, bg, cv::Size(0, 0), 2.5);
  cv::Mat textured, grain(size, CV_16SC3);  // a fixed texture, so the wall is not flat
  bg.convertTo(textured, CV_16SC3);
  cv::randn(grain, cv::Scalar::all(0), cv::Scalar::all(6));
  textured += grain;
  textured.convertTo(bg, CV_8UC3);
  return bg;
}

// An actor's photo cut around the face (with hair and some background, replicated where the
// photo ends) and a feathered elliptical alpha for it.
struct Patch {
  cv::Mat image;  // CV_32FC3
  cv::Mat alpha;  // CV_32F, 0..1
  cv::Point2f face_centre;
  cv::Size2f face_size;
};

Patch cut_patch(const Actor& actor) {
  const cv::Rect2f& f = actor.face;
  const float side = 1.8f * std::max(f.width, f.height);
  const cv::Point2f centre(f.x + f.width / 2, f.y + f.height / 2);
  const int half = static_cast<int>(std::ceil(side / 2));
  cv::Mat padded;
  cv::copyMakeBorder(actor.photo, padded, half, half, half, half, cv::BORDER_REPLICATE);
  const cv::Rect region(static_cast<int>(std::lround(centre.x)),
                        static_cast<int>(std::lround(centre.y)), 2 * half,
                        2 * half);  // in padded coordinates the face centre is + half
  Patch p;
  padded(region & cv::Rect(0, 0, padded.cols, padded.rows)).convertTo(p.image, CV_32FC3);
  p.face_centre = cv::Point2f(static_cast<float>(half), static_cast<float>(half)) +
                  (centre - cv::Point2f(std::round(centre.x), std::round(centre.y)));
  p.face_size = f.size();
  p.alpha = cv::Mat::zeros(p.image.size(), CV_32F);
  cv::ellipse(p.alpha, cv::Point(half, static_cast<int>(half - 0.05 * side)),
              cv::Size(static_cast<int>(0.40 * side), static_cast<int>(0.47 * side)), 0, 0, 360,
              cv::Scalar(1), cv::FILLED);
  cv::GaussianBlur(p.alpha, p.alpha, cv::Size(0, 0), 0.05 * side);
  return p;
}

}  // namespace

SyntheticClip make_synthetic_clip(const std::vector<Actor>& actors,
                                  const SyntheticClipOptions& options,
                                  const std::filesystem::path& path) {
  if (actors.size() < 2) throw InputError("a synthetic clip needs at least two actors");
  std::mt19937_64 rng(options.seed);
  const cv::Size size = options.size;
  const int frames = static_cast<int>(std::lround(options.seconds * options.fps));
  const std::vector<Script> scripts = write_scripts(actors.size(), size, options.seconds, rng);
  const cv::Mat background = make_background(size, rng);
  std::vector<Patch> patches;
  for (const Actor& a : actors) patches.push_back(cut_patch(a));
  std::vector<std::size_t> order(actors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return scripts[a].depth < scripts[b].depth;
  });
  // A pillar in front of everyone, a little wider than a face.
  const cv::Rect pillar(static_cast<int>(0.45 * size.width), 0, static_cast<int>(0.15 * size.width),
                        size.height);

  SyntheticClip clip;
  clip.video = path;
  clip.fps = options.fps;
  clip.size = size;
  for (const Actor& a : actors) clip.truth.names.push_back(a.name);
  VideoWriterOptions vo;
  vo.fps = options.fps;
  vo.crf = options.crf;
  VideoWriter writer(path, size, vo);
  std::normal_distribution<float> noise(0, static_cast<float>(options.noise));
  std::vector<bool> was_present(actors.size(), false), was_visible(actors.size(), false);
  std::vector<bool> left(actors.size(), false), hidden(actors.size(), false);
  cv::Mat noise_image(size, CV_16SC3);

  for (int n = 0; n < frames; ++n) {
    const double t = n / options.fps;
    cv::Mat canvas;
    background.convertTo(canvas, CV_32FC3);
    std::vector<cv::Mat> masks(actors.size());
    std::vector<TruthBox> boxes(actors.size());
    std::vector<bool> present(actors.size(), false);
    for (std::size_t i : order) {
      const Pose pose = pose_at(scripts[i], t);
      if (!pose.present) continue;
      const Patch& p = patches[i];
      const float scale = pose.side / std::max(p.face_size.width, p.face_size.height);
      cv::Mat m = cv::getRotationMatrix2D(p.face_centre, pose.roll, scale);
      m.at<double>(0, 2) += pose.centre.x - p.face_centre.x;
      m.at<double>(1, 2) += pose.centre.y - p.face_centre.y;
      // Only the region the patch lands on is warped and blended.
      std::vector<cv::Point2f> corners = {
          {0, 0},
          {static_cast<float>(p.image.cols), 0},
          {0, static_cast<float>(p.image.rows)},
          {static_cast<float>(p.image.cols), static_cast<float>(p.image.rows)}};
      cv::transform(corners, corners, m);
      const cv::Rect region = cv::boundingRect(corners) & cv::Rect(cv::Point(), size);
      masks[i] = cv::Mat::zeros(size, CV_8U);
      if (!region.empty()) {
        cv::Mat shifted = m.clone();
        shifted.at<double>(0, 2) -= region.x;
        shifted.at<double>(1, 2) -= region.y;
        cv::Mat warped, alpha;
        cv::warpAffine(p.image, warped, shifted, region.size(), cv::INTER_LINEAR,
                       cv::BORDER_CONSTANT);
        cv::warpAffine(p.alpha, alpha, shifted, region.size(), cv::INTER_LINEAR,
                       cv::BORDER_CONSTANT);
        cv::Mat alpha3;
        cv::merge(std::vector<cv::Mat>(3, alpha), alpha3);
        cv::Mat target = canvas(region);
        target = target.mul(cv::Scalar::all(1) - alpha3) + warped.mul(alpha3);
        target.copyTo(canvas(region));
        masks[i](region).setTo(255, alpha > 0.5f);
      }
      const cv::Size2f s = p.face_size * scale;
      boxes[i] = {
          static_cast<int>(i),
          cv::Rect2f(pose.centre.x - s.width / 2, pose.centre.y - s.height / 2, s.width, s.height),
          0};
      present[i] = true;
    }
    // The pillar, lighting drift and sensor noise.
    cv::rectangle(canvas, pillar, cv::Scalar(70, 85, 95), cv::FILLED);
    for (int x = pillar.x + 6; x < pillar.x + pillar.width; x += 14) {
      cv::line(canvas, {x, 0}, {x, size.height}, cv::Scalar(55, 65, 75), 2);
    }
    canvas *= 1.0 + 0.05 * std::sin(2 * std::numbers::pi * t / 3.7);
    cv::Mat frame;
    canvas.convertTo(frame, CV_16SC3);
    cv::randn(noise_image, cv::Scalar::all(0), cv::Scalar::all(options.noise));
    frame += noise_image;
    frame.convertTo(frame, CV_8UC3);
    writer.write(frame, t);

    // Visibility: the face box inside the frame, not under the pillar or a nearer face.
    std::vector<TruthBox> truth;
    for (std::size_t k = 0; k < order.size(); ++k) {
      const std::size_t i = order[k];
      if (!present[i]) continue;
      TruthBox b = boxes[i];
      const cv::Rect box = cv::Rect(b.box);
      const cv::Rect inside = box & cv::Rect(cv::Point(), size);
      if (inside.empty() || box.area() == 0) continue;
      cv::Mat cover = cv::Mat::zeros(inside.size(), CV_8U);
      cover(cv::Rect(pillar.tl() - inside.tl(), pillar.size()) &
            cv::Rect(cv::Point(), inside.size())) = 255;
      for (std::size_t l = k + 1; l < order.size(); ++l) {
        if (present[order[l]]) cover |= masks[order[l]](inside);
      }
      const int visible = inside.area() - cv::countNonZero(cover);
      b.visibility = static_cast<float>(visible) / static_cast<float>(box.area());
      if (b.visibility <= 0) continue;
      truth.push_back(b);
      // What happened, for the caller: occlusions (under the pillar or a face) and exits.
      if (b.visibility < 0.3f && was_visible[i]) {
        if (!hidden[i])
          ++((box & pillar).area() > box.area() / 2 ? clip.occlusions : clip.crossings);
        hidden[i] = true;
      }
      if (b.visibility >= 0.6f) {
        if (was_present[i] && left[i]) ++clip.exits;
        left[i] = false;
        was_visible[i] = true;
        hidden[i] = false;
      }
    }
    for (std::size_t i = 0; i < actors.size(); ++i) {
      const bool in_truth = std::any_of(truth.begin(), truth.end(), [&](const TruthBox& b) {
        return b.person == static_cast<int>(i);
      });
      if (was_present[i] && !in_truth && was_visible[i]) left[i] = true;
      was_present[i] = was_present[i] || in_truth;
    }
    clip.truth.frames.push_back(std::move(truth));
  }
  writer.close();
  return clip;
}

}  // namespace clipface::eval
