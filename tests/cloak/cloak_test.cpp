// Cloaks on real photos: budgets honoured on every pixel of the written picture, a zero budget
// changes nothing, the models the cloak was made on move, and both evaluation protocols run on a
// small set where a cloak made on dlib lowers dlib's own top-1.
#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/cloak.hpp"
#include "clipface/cloak_eval.hpp"
#include "clipface/errors.hpp"
#include "clipface/image.hpp"
#include "support/test_env.hpp"

namespace clipface::cloak {
namespace {

using testing::shared_path;

const char* kDlibDir = "models/dlib";
const char* kYunet = "models/yunet/face_detection_yunet_2022mar.onnx";
const std::string kLfw = "data/faces/lfw-view1/";

#define REQUIRE_DATA()               \
  CLIPFACE_REQUIRE_SHARED(kDlibDir); \
  CLIPFACE_REQUIRE_SHARED(kYunet);   \
  CLIPFACE_REQUIRE_SHARED(kLfw)

std::string dlib_spec() {
  return "dlib:" + shared_path(kDlibDir).string();
}

const Detector& detector() {
  static const auto d = [] {
    DetectorOptions o;
    o.model = shared_path(kYunet).string();
    return make_detector(o);
  }();
  return *d;
}

// The n-th photo (from 1, by name) of a person in LFW View 1 (whose numbers have gaps).
std::string lfw(const std::string& person, int n) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(shared_path(kLfw + person)))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return kLfw + person + "/" + names.at(static_cast<std::size_t>(n - 1));
}

CloakInput input(const std::string& relative) {
  CloakInput in{relative, load_image(shared_path(relative)), {}};
  const auto faces = detector().detect(in.image);
  const int chosen = pick_face(faces, in.image.size(), FacePick::nearest_centre);
  if (chosen >= 0) in.faces = {faces[static_cast<std::size_t>(chosen)]};
  return in;
}

std::vector<PoolImage> pool() {
  std::vector<PoolImage> out;
  for (const char* person : {"Aaron_Sorkin", "Abdullah_Gul", "Adam_Sandler"}) {
    const CloakInput in = input(lfw(person, 1));
    if (!in.faces.empty()) out.push_back({person, in.image, in.faces[0]});
  }
  return out;
}

CloakOptions options(Method method, int steps) {
  CloakOptions o;
  o.method = method;
  o.level = Level::low;
  o.models = {dlib_spec()};
  o.steps = steps;
  o.progress = false;
  o.runtime.threads = 1;  // ctest runs tests side by side on 2 cores
  return o;
}

// SSIM written independently of the engine (OpenCV, float64, one channel at a time): Gaussian
// 11x11 sigma 1.5 window, valid positions, mean over channels.
double reference_dssim(const cv::Mat& a8, const cv::Mat& b8) {
  std::vector<cv::Mat> as, bs;
  cv::split(a8, as);
  cv::split(b8, bs);
  const cv::Mat g = cv::getGaussianKernel(11, 1.5, CV_64F);
  auto filt = [&](const cv::Mat& x) {
    cv::Mat y;
    cv::sepFilter2D(x, y, CV_64F, g, g, cv::Point(-1, -1), 0, cv::BORDER_CONSTANT);
    return y(cv::Rect(5, 5, x.cols - 10, x.rows - 10)).clone();  // valid part
  };
  const double c1 = 1e-4, c2 = 9e-4;
  double sum = 0;
  for (std::size_t c = 0; c < as.size(); ++c) {
    cv::Mat a, b;
    as[c].convertTo(a, CV_64F, 1.0 / 255);
    bs[c].convertTo(b, CV_64F, 1.0 / 255);
    const cv::Mat ma = filt(a), mb = filt(b);
    const cv::Mat saa = filt(a.mul(a)) - ma.mul(ma), sbb = filt(b.mul(b)) - mb.mul(mb);
    const cv::Mat sab = filt(a.mul(b)) - ma.mul(mb);
    const cv::Mat num = (2 * ma.mul(mb) + c1).mul(2 * sab + c2);
    const cv::Mat den = (ma.mul(ma) + mb.mul(mb) + c1).mul(saa + sbb + c2);
    cv::Mat map;
    cv::divide(num, den, map);
    sum += cv::mean(map)[0];
  }
  return (1.0 - sum / static_cast<double>(as.size())) / 2.0;
}

TEST(Cloak, ZeroBudgetChangesNothing) {
  REQUIRE_DATA();
  const std::vector<CloakInput> inputs = {input(lfw("Colin_Powell", 1))};
  CloakOptions lowkey = options(Method::lowkey, 4);
  lowkey.max_linf = 0;
  const auto a = Cloaker(lowkey).cloak(inputs);
  EXPECT_EQ(cv::norm(a[0].image, inputs[0].image, cv::NORM_INF), 0.0);
  EXPECT_EQ(a[0].linf, 0);
  EXPECT_EQ(a[0].dssim, 0.0);
  CloakOptions fawkes = options(Method::fawkes, 4);
  fawkes.max_dssim = 0.0;  // nothing may change, whatever the L_inf cap allows
  Cloaker f(fawkes);
  f.set_target_pool(pool());
  const auto b = f.cloak(inputs);
  EXPECT_EQ(cv::norm(b[0].image, inputs[0].image, cv::NORM_INF), 0.0);
}

TEST(Cloak, LinfBudgetHoldsOnEveryPixelAndNothingOutsideTheRegionMoves) {
  REQUIRE_DATA();
  const std::vector<CloakInput> inputs = {input(lfw("Colin_Powell", 1)),
                                          input(lfw("Laura_Bush", 1))};
  const Cloaker cloaker(options(Method::lowkey, 6));
  ASSERT_EQ(cloaker.budget().max_linf, 4);
  const auto results = cloaker.cloak(inputs);
  ASSERT_EQ(results.size(), 2u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const cv::Mat& before = inputs[i].image;
    const cv::Mat& after = results[i].image;
    ASSERT_EQ(after.size(), before.size());
    cv::Mat diff;
    cv::absdiff(before, after, diff);
    double worst = 0;
    cv::minMaxLoc(diff.reshape(1), nullptr, &worst);
    EXPECT_LE(worst, 4.0) << inputs[i].name;
    EXPECT_GT(worst, 0.0) << "the cloak changed nothing in " << inputs[i].name;
    EXPECT_EQ(results[i].linf, static_cast<int>(worst));
    cv::Mat outside = diff.clone();
    outside(results[i].region).setTo(0);
    EXPECT_EQ(cv::countNonZero(outside.reshape(1)), 0) << "pixels changed outside the region";
    EXPECT_GT(results[i].model_shift.at(0), 0.0);  // the white-box model moved
    EXPECT_GT(results[i].psnr, 30.0);
  }
}

TEST(Cloak, FawkesKeepsItsDssimBudgetMeasuredIndependently) {
  REQUIRE_DATA();
  const std::vector<CloakInput> inputs = {input(lfw("Colin_Powell", 2)),
                                          input(lfw("Colin_Powell", 3))};
  Cloaker cloaker(options(Method::fawkes, 8));
  cloaker.set_target_pool(pool());
  ASSERT_DOUBLE_EQ(cloaker.budget().max_dssim, 0.003);  // Fawkes' "low"
  const auto results = cloaker.cloak(inputs);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const cv::Rect r = results[i].region;
    const double ours = reference_dssim(inputs[i].image(r), results[i].image(r));
    EXPECT_LE(ours, 0.003 + 1e-7) << inputs[i].name;
    EXPECT_NEAR(ours, results[i].dssim, 1e-5);
    EXPECT_GT(ours, 0.0);
    EXPECT_LE(results[i].linf, 16);
    EXPECT_FALSE(results[i].target.empty());
    EXPECT_EQ(results[i].target, results[0].target);  // one target for one person's photos
  }
}

TEST(Cloak, RefusesWhatItCannotCloak) {
  REQUIRE_DATA();
  const Cloaker cloaker(options(Method::lowkey, 1));
  CloakInput none{"grey.png", cv::Mat(200, 200, CV_8UC3, cv::Scalar(128, 128, 128)), {}};
  EXPECT_EQ(cloaker.check(none), "no face found");
  CloakInput small = input(lfw("Colin_Powell", 1));
  small.faces[0].box = cv::Rect2f(100, 100, 20, 24);
  EXPECT_NE(cloaker.check(small).find("face too small"), std::string::npos);
  EXPECT_THROW(cloaker.cloak({none}), InputError);
  CloakOptions bad = options(Method::lowkey, 1);
  bad.models = {"arcface-r100"};
  EXPECT_THROW(Cloaker{bad}, InputError);
  EXPECT_THROW(parse_method("glaze"), InputError);
  EXPECT_THROW(parse_level("ultra"), InputError);
  Cloaker fawkes(options(Method::fawkes, 1));
  EXPECT_THROW(fawkes.cloak({input(lfw("Colin_Powell", 1))}), InputError);  // no target pool
}

TEST(CloakEval, BothProtocolsOnASmallSetAndDlibsOwnTop1Drops) {
  REQUIRE_DATA();
  testing::TempDir tmp;
  std::vector<std::pair<std::string, std::string>> entries;
  for (const char* person : {"Colin_Powell", "Laura_Bush", "Tiger_Woods", "Venus_Williams"}) {
    for (int n = 1; n <= 6; ++n) entries.emplace_back(person, lfw(person, n));
  }
  for (const char* person : {"Aaron_Sorkin", "Abdullah_Gul", "Adam_Sandler"})
    entries.emplace_back(person, lfw(person, 1));
  testing::make_people_dir(tmp / "people", entries);
  CloakEvalOptions o;
  o.surrogates = {dlib_spec()};
  // The same model under a second spec: a 1x2 transfer matrix (its plumbing) at no extra cloaking.
  o.victims = {dlib_spec(), dlib_spec() + "/"};
  o.steps = 10;
  o.min_images = 6;
  o.embed.detector.model = shared_path(kYunet).string();
  o.embed.use_cache = false;
  o.output_dir = tmp / "out";
  o.progress = false;
  o.runtime.threads = 1;
  const CloakEvalOutput out = run_cloak_eval(tmp / "people", o);
  EXPECT_EQ(out.json["people"], 4);
  EXPECT_EQ(out.json["target_people"], 3);
  // Study protocol: a row per (method, defence) besides the clean ones; shares are fractions.
  std::size_t cloaked_rows = 0;
  for (const auto& row : out.json["study"]) {
    EXPECT_GE(row["share"].get<double>(), 0.0);
    EXPECT_LE(row["share"].get<double>(), 1.0);
    if (row["method"] == "clean" && row["defence"] == "none") {
      EXPECT_EQ(row["share"].get<double>(), 1.0);  // a clean query finds itself... others
      EXPECT_GT(row["eligible"].get<int>(), 0);
    }
    cloaked_rows += row["method"] != "clean";
  }
  EXPECT_EQ(cloaked_rows, 2u * 3u * 3u);  // 2 victims x (fawkes, lowkey, both) x (none, jpeg, blur)
  // Fawkes' threat model: the cloak made on dlib lowers dlib's own top-1 (LowKey's at these few
  // steps; Fawkes' smaller DSSIM budget needs more of them) and never raises it.
  std::size_t rows = 0;
  for (const auto& row : out.json["fawkes"]) {
    ++rows;
    if (row["defence"] != "none") continue;
    const double before = row["top1_clean"], after = row["top1_cloaked"];
    EXPECT_GT(before, 0.8);
    EXPECT_LE(after, before) << row["method"];
    if (row["method"] == "lowkey") {
      EXPECT_LT(after, before - 0.2);
    }
  }
  EXPECT_EQ(rows, 2u * 2u * 3u);  // 2 victims x (fawkes, lowkey) x (none, jpeg, blur)
  for (const auto& f : out.files) EXPECT_TRUE(std::filesystem::exists(f)) << f;
  EXPECT_TRUE(std::filesystem::exists(tmp / "out" / "cloak_transfer_lowkey.png"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "out" / "cloak_study.png"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "out" / "cloak_fawkes.png"));
  EXPECT_NE(testing::read_text(tmp / "out" / "cloak_study.csv").find("victim,surrogate"),
            std::string::npos);
}

TEST(CloakEval, Percentile) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 95), 3.85);
  EXPECT_DOUBLE_EQ(percentile({5}, 95), 5);
  EXPECT_THROW(percentile({}, 50), InputError);
}

}  // namespace
}  // namespace clipface::cloak
