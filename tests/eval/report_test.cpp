#include "clipface/report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"
#include "support/test_env.hpp"

namespace clipface::report {
namespace {

using clipface::testing::TempDir;

// A drawn chart is a real PNG of the asked size with more than a blank page in it.
void expect_chart(const std::filesystem::path& png, int width, int height) {
  const cv::Mat image = cv::imread(png.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(image.empty()) << png;
  EXPECT_EQ(image.cols, width);
  EXPECT_EQ(image.rows, height);
  cv::Mat grey;
  cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
  EXPECT_GT(cv::countNonZero(grey < 250), image.total() / 50) << png << " looks blank";
}

TEST(Charts, LineScatterHeatMapAndBarsAreDrawn) {
  TempDir tmp;
  LinePlot roc{
      "ROC",
      "false accept rate",
      "true accept rate",
      {{"model A", {0, 0.1, 0.5, 1}, {0, 0.7, 0.95, 1}}, {"model B", {0, 0.5, 1}, {0, 0.6, 1}}},
      true,
      false,
      true};
  draw(roc, tmp / "roc.png");
  expect_chart(tmp / "roc.png", 720, 540);
  LinePlot log_roc = roc;
  log_roc.log_x = true;
  log_roc.series[0].x = {1e-4, 1e-3, 1e-2, 1};
  draw(log_roc, tmp / "roc_log.png");
  expect_chart(tmp / "roc_log.png", 720, 540);

  ScatterPlot scatter{"PCA", "PC 1", "PC 2", {}, {}, {}, {"alice", "bob", "carol"}};
  for (int i = 0; i < 300; ++i) {
    scatter.x.push_back(std::sin(i * 0.7) + (i % 3));
    scatter.y.push_back(std::cos(i * 1.3) + (i % 3) * 0.5);
    scatter.group.push_back(i % 4 == 3 ? 7 : i % 3);  // group 7 is not in the legend: grey
  }
  draw(scatter, tmp / "pca.png");
  expect_chart(tmp / "pca.png", 760, 600);

  HeatMap map{"Confusion", {"alice", "bob"}, {"alice", "bob", "Unknown"}, {{5, 1, 0}, {2, 3, 1}}};
  draw(map, tmp / "confusion.png", 500);
  expect_chart(tmp / "confusion.png", 590, 540);

  BarChart bars{"People by accuracy", "group", "people", {"0-49%", "50-74%", "75-100%"}, {1, 2, 7}};
  draw(bars, tmp / "bars.png");
  expect_chart(tmp / "bars.png", 640, 480);

  EXPECT_THROW(draw(bars, tmp / "missing/dir/bars.png"), InputError);
}

TEST(Pca, FindsTheDirectionOfMostSpread) {
  // Points spread along (1, 1, 0) with a little noise in z: PC 1 separates the ends.
  std::vector<float> data;
  for (int i = 0; i < 20; ++i) {
    data.insert(data.end(), {float(i), float(i), (i % 2) * 0.1f});
  }
  std::vector<double> x, y;
  pca_2d(data, 20, 3, x, y);
  ASSERT_EQ(x.size(), 20u);
  EXPECT_NEAR(std::abs(x[19] - x[0]), std::sqrt(2.0) * 19, 1e-3);
  EXPECT_LT(std::abs(y[19] - y[0]), 0.2);
}

TEST(Html, EscapesTextAndWritesThePage) {
  TempDir tmp;
  HtmlPage page("Report <1>");
  page.warning("RANDOM WEIGHTS");
  page.table({"a&b"}, {{"<script>"}});
  page.image("roc.png", "ROC \"curve\"");
  page.write(tmp / "index.html");
  const std::string html = clipface::testing::read_text(tmp / "index.html");
  EXPECT_NE(html.find("Report &lt;1&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("class=\"warning\">RANDOM WEIGHTS"), std::string::npos);
  EXPECT_NE(html.find("src=\"roc.png\""), std::string::npos);
  EXPECT_THROW(page.write(tmp / "no/dir/index.html"), InputError);
}

}  // namespace
}  // namespace clipface::report
