// Evaluation reports people can read: PNG charts drawn with cairo and an HTML page that holds
// them with tables. Charts have titles, labelled axes with ticks and legends.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace clipface::report {

struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool fixed_unit_range = false;  // both axes 0..1 (ROC, precision-recall)
  bool log_x = false;             // x on a log10 scale (values <= 0 are skipped)
  bool diagonal = false;          // dashed y = x (chance line of a ROC curve)
  bool markers = false;
};

struct ScatterPlot {
  std::string title, x_label, y_label;
  std::vector<double> x, y;
  std::vector<int> group;                // colour per point
  std::vector<std::string> group_names;  // legend (first 20 shown)
};

struct HeatMap {
  std::string title;
  std::vector<std::string> rows, cols;  // row = truth, column = prediction
  std::vector<std::vector<double>> values;
  std::string row_label = "true person", col_label = "predicted person";
};

struct BarChart {
  std::string title, x_label, y_label;
  std::vector<std::string> categories;
  std::vector<double> values;
};

// Each writes a PNG (size in pixels); throws InputError naming the file when it cannot be written.
void draw(const LinePlot& plot, const std::filesystem::path& png, int width = 720,
          int height = 540);
void draw(const ScatterPlot& plot, const std::filesystem::path& png, int width = 760,
          int height = 600);
void draw(const HeatMap& map, const std::filesystem::path& png, int size = 760);
void draw(const BarChart& chart, const std::filesystem::path& png, int width = 640,
          int height = 480);

// Principal component projection of rows x cols data (row-major) onto the first two components.
void pca_2d(const std::vector<float>& data, std::size_t rows, std::size_t cols,
            std::vector<double>& x, std::vector<double>& y);

// An HTML page built top to bottom. Text is escaped; images are referenced by file name relative
// to the page.
class HtmlPage {
 public:
  explicit HtmlPage(std::string title);
  void warning(const std::string& text);  // a red banner (random weights)
  void heading(const std::string& text);
  void paragraph(const std::string& text);
  void preformatted(const std::string& text);
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows);
  void image(const std::string& file, const std::string& caption);
  void images_side_by_side(const std::vector<std::string>& files, const std::string& caption);
  std::string html() const;
  void write(const std::filesystem::path& path) const;  // InputError naming the file

 private:
  std::string title_;
  std::string body_;
};

std::string escape_html(const std::string& text);

}  // namespace clipface::report
