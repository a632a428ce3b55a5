// Charts drawn with cairo: one small axes helper (nice ticks, grid, labels, legend) shared by the
// line, scatter and bar charts, and a heat map with a colour bar.
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <opencv2/core.hpp>

#include "clipface/errors.hpp"
#include "clipface/report.hpp"

namespace clipface::report {
namespace {

struct Rgb {
  double r, g, b;
};

// Matplotlib's tab10 then tab20's lighter half, with their greys swapped for navy and brown:
// grey is kept for points outside the legend.
const Rgb kPalette[] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.000, 0.000, 0.500},
    {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812}, {0.682, 0.780, 0.910}, {1.000, 0.733, 0.471},
    {0.596, 0.875, 0.541}, {1.000, 0.596, 0.588}, {0.773, 0.690, 0.835}, {0.769, 0.612, 0.580},
    {0.969, 0.714, 0.824}, {0.400, 0.200, 0.000}, {0.859, 0.859, 0.553}, {0.620, 0.855, 0.898}};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

void colour(cairo_t* cr, int i, double alpha = 1.0) {
  const Rgb& c = kPalette[((i % kPaletteSize) + kPaletteSize) % kPaletteSize];
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

class Surface {
 public:
  Surface(int width, int height)
      : surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height)),
        cr_(cairo_create(surface_)) {
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
    cairo_set_source_rgb(cr_, 0.1, 0.1, 0.1);  // text colour until a chart picks another
    cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  ~Surface() {
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
  }
  Surface(const Surface&) = delete;
  Surface& operator=(const Surface&) = delete;
  cairo_t* cr() { return cr_; }
  void save(const std::filesystem::path& png) {
    cairo_surface_flush(surface_);
    if (cairo_surface_write_to_png(surface_, png.c_str()) != CAIRO_STATUS_SUCCESS) {
      throw InputError("cannot write chart '" + png.string() + "'");
    }
  }

 private:
  cairo_surface_t* surface_;
  cairo_t* cr_;
};

enum class Align { left, centre, right };

// Text with its anchor at (x, y): horizontal alignment as given, vertically centred.
void text(cairo_t* cr, const std::string& s, double x, double y, double size, Align align,
          bool bold = false, double angle = 0) {
  cairo_save(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  double dx = -e.x_bearing;
  if (align == Align::centre) dx = -e.x_bearing - e.width / 2;
  if (align == Align::right) dx = -e.x_bearing - e.width;
  cairo_move_to(cr, dx, -e.y_bearing - e.height / 2);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

double text_width(cairo_t* cr, const std::string& s, double size) {
  cairo_save(cr);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_restore(cr);
  return e.x_advance;
}

std::string shorten(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 1) + "~";
}

std::vector<double> nice_ticks(double lo, double hi, int target = 6) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double v, bool log_scale) {
  char buf[32];
  if (log_scale) {
    std::snprintf(buf, sizeof buf, "1e%d", static_cast<int>(std::lround(v)));
  } else if (std::abs(v) >= 1e4 || (std::abs(v) < 1e-3 && v != 0)) {
    std::snprintf(buf, sizeof buf, "%.1e", v);
  } else {
    std::snprintf(buf, sizeof buf, "%g", std::round(v * 1e6) / 1e6);
  }
  return buf;
}

// The plotting frame: maps data to pixels and draws the grid, ticks, labels and title.
struct Axes {
  double left, top, right, bottom;  // pixel box of the plot area
  double x0, x1, y0, y1;            // data range
  bool log_x = false;

  double px(double x) const {
    if (log_x) x = std::log10(x);
    return left + (x - x0) / (x1 - x0) * (right - left);
  }
  double py(double y) const { return bottom - (y - y0) / (y1 - y0) * (bottom - top); }

  void frame(cairo_t* cr, const std::string& title, const std::string& xl, const std::string& yl,
             int width, bool x_ticks = true) const {
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, title, width / 2.0, top / 2.0, 18, Align::centre, true);
    cairo_set_line_width(cr, 1);
    const auto xt = log_x ? log_ticks() : nice_ticks(x0, x1);
    const auto yt = nice_ticks(y0, y1);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (double t : yt) {
      if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
      cairo_move_to(cr, left, std::round(py(t)) + 0.5);
      cairo_line_to(cr, right, std::round(py(t)) + 0.5);
    }
    if (x_ticks) {
      for (double t : xt) {
        if (t < x0 - 1e-12 || t > x1 + 1e-12) continue;
        const double x = std::round(left + (t - x0) / (x1 - x0) * (right - left)) + 0.5;
        cairo_move_to(cr, x, top);
        cairo_line_to(cr, x, bottom);
      }
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, left + 0.5, top + 0.5, right - left, bottom - top);
    cairo_stroke(cr);
    for (double t : yt) {
      if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
      text(cr, tick_label(t, false), left - 8, py(t), 12, Align::right);
    }
    if (x_ticks) {
      for (double t : xt) {
        if (t < x0 - 1e-12 || t > x1 + 1e-12) continue;
        text(cr, tick_label(t, log_x), left + (t - x0) / (x1 - x0) * (right - left), bottom + 14,
             12, Align::centre);
      }
    }
    text(cr, xl, (left + right) / 2, bottom + 42, 14, Align::centre);
    text(cr, yl, left - 62, (top + bottom) / 2, 14, Align::centre, false, -M_PI / 2);
  }

  std::vector<double> log_ticks() const {
    std::vector<double> t;
    for (double e = std::ceil(x0); e <= std::floor(x1); e += 1) t.push_back(e);
    return t;
  }
};

void legend(cairo_t* cr, const Axes& ax, const std::vector<std::string>& names, bool lines,
            bool bottom_right) {
  if (names.empty()) return;
  const double size = 12, row = 18;
  double w = 0;
  for (const auto& n : names) w = std::max(w, text_width(cr, n, size));
  w += 40;
  const double h = row * static_cast<double>(names.size()) + 10;
  const double x = ax.right - w - 10;
  const double y = bottom_right ? ax.bottom - h - 10 : ax.top + 10;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_rectangle(cr, x, y, w, h);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double cy = y + 5 + row * (static_cast<double>(i) + 0.5);
    colour(cr, static_cast<int>(i));
    if (lines) {
      cairo_set_line_width(cr, 2.5);
      cairo_move_to(cr, x + 8, cy);
      cairo_line_to(cr, x + 28, cy);
      cairo_stroke(cr);
    } else {
      cairo_arc(cr, x + 18, cy, 5, 0, 2 * M_PI);
      cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, names[i], x + 34, cy, size, Align::left);
  }
}

void range_of(const std::vector<double>& v, double& lo, double& hi) {
  for (double x : v) {
    if (!std::isfinite(x)) continue;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
}

void pad_range(double& lo, double& hi) {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
    return;
  }
  const double pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
}

}  // namespace

void draw(const LinePlot& plot, const std::filesystem::path& png, int width, int height) {
  Surface s(width, height);
  cairo_t* cr = s.cr();
  Axes ax{90, 50, width - 25.0, height - 70.0, 0, 1, 0, 1, plot.log_x};
  if (!plot.fixed_unit_range) {
    double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
    for (const auto& series : plot.series) {
      std::vector<double> xs;
      for (double x : series.x) {
        if (!plot.log_x)
          xs.push_back(x);
        else if (x > 0)
          xs.push_back(std::log10(x));
      }
      range_of(xs, xlo, xhi);
      range_of(series.y, ylo, yhi);
    }
    if (!std::isfinite(xlo)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    if (!plot.log_x)
      pad_range(xlo, xhi);
    else
      xlo = std::floor(xlo), xhi = std::max(std::ceil(xhi), xlo + 1);
    if (ylo >= 0 && yhi <= 1) {
      ylo = 0;  // rates and scores: show their whole range
      yhi = 1.02;
    } else {
      pad_range(ylo, yhi);
      if (ylo > 0 && ylo < (yhi - ylo)) ylo = 0;  // start at zero when it costs little room
    }
    ax.x0 = xlo, ax.x1 = xhi, ax.y0 = ylo, ax.y1 = yhi;
  } else if (plot.log_x) {
    ax.x0 = -4, ax.x1 = 0;
  }
  ax.frame(cr, plot.title, plot.x_label, plot.y_label, width);
  cairo_save(cr);
  cairo_rectangle(cr, ax.left, ax.top, ax.right - ax.left, ax.bottom - ax.top);
  cairo_clip(cr);
  if (plot.diagonal) {
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    const double dash[] = {6, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, 1.2);
    cairo_move_to(cr, ax.px(plot.log_x ? 1e-4 : 0), ax.py(plot.log_x ? 1e-4 : 0));
    cairo_line_to(cr, ax.px(1), ax.py(1));
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    const auto& series = plot.series[i];
    names.push_back(series.name);
    colour(cr, static_cast<int>(i));
    cairo_set_line_width(cr, 2.5);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    bool started = false;
    for (std::size_t j = 0; j < series.x.size() && j < series.y.size(); ++j) {
      if (plot.log_x && series.x[j] <= 0) continue;
      if (!std::isfinite(series.y[j])) continue;
      const double x = ax.px(series.x[j]), y = ax.py(series.y[j]);
      started ? cairo_line_to(cr, x, y) : cairo_move_to(cr, x, y);
      started = true;
    }
    cairo_stroke(cr);
    if (plot.markers) {
      for (std::size_t j = 0; j < series.x.size() && j < series.y.size(); ++j) {
        if (plot.log_x && series.x[j] <= 0) continue;
        cairo_arc(cr, ax.px(series.x[j]), ax.py(series.y[j]), 4, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
  }
  cairo_restore(cr);
  bool any_name = false;
  for (const auto& n : names) any_name = any_name || !n.empty();
  if (any_name) {
    // Put the legend in the right-hand corner that covers fewer data points.
    std::size_t upper = 0, lower = 0;
    for (const auto& series : plot.series) {
      for (std::size_t j = 0; j < series.x.size() && j < series.y.size(); ++j) {
        if (plot.log_x && series.x[j] <= 0) continue;
        const double x = ax.px(series.x[j]), y = ax.py(series.y[j]);
        if (x < (ax.left + ax.right) / 2) continue;
        (y < (ax.top + ax.bottom) / 2 ? upper : lower) += 1;
      }
    }
    legend(cr, ax, names, true, lower < upper || (lower == upper && plot.fixed_unit_range));
  }
  s.save(png);
}

void draw(const ScatterPlot& plot, const std::filesystem::path& png, int width, int height) {
  Surface s(width, height);
  cairo_t* cr = s.cr();
  const std::size_t groups = std::min<std::size_t>(plot.group_names.size(), 20);
  double legend_w = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    legend_w = std::max(legend_w, text_width(cr, shorten(plot.group_names[g], 24), 12));
  }
  const double right = width - 25.0 - (groups ? legend_w + 40 : 0);
  Axes ax{90, 50, right, height - 70.0, 0, 1, 0, 1, false};
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  range_of(plot.x, xlo, xhi);
  range_of(plot.y, ylo, yhi);
  if (!std::isfinite(xlo)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  pad_range(xlo, xhi);
  pad_range(ylo, yhi);
  ax.x0 = xlo, ax.x1 = xhi, ax.y0 = ylo, ax.y1 = yhi;
  ax.frame(cr, plot.title, plot.x_label, plot.y_label, width);
  for (int pass = 0; pass < 2; ++pass) {  // grey first, so coloured points stay on top
    for (std::size_t i = 0; i < plot.x.size() && i < plot.y.size(); ++i) {
      const int g = i < plot.group.size() ? plot.group[i] : 0;
      const bool listed = g >= 0 && static_cast<std::size_t>(g) < groups;
      if (listed != (pass == 1)) continue;
      if (listed)
        colour(cr, g, 0.85);
      else
        cairo_set_source_rgba(cr, 0.6, 0.6, 0.6, 0.5);
      cairo_arc(cr, ax.px(plot.x[i]), ax.py(plot.y[i]), listed ? 4.5 : 3, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
  for (std::size_t g = 0; g < groups; ++g) {
    const double cy = ax.top + 10 + 18 * (static_cast<double>(g) + 0.5);
    colour(cr, static_cast<int>(g));
    cairo_arc(cr, right + 22, cy, 5, 0, 2 * M_PI);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, shorten(plot.group_names[g], 24), right + 34, cy, 12, Align::left);
  }
  if (plot.group_names.size() > groups) {
    cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
    text(cr, "grey: " + std::to_string(plot.group_names.size() - groups) + " more people",
         right + 16, ax.top + 10 + 18 * (static_cast<double>(groups) + 0.8), 11, Align::left);
  }
  s.save(png);
}

void draw(const HeatMap& map, const std::filesystem::path& png, int size) {
  const std::size_t n_rows = map.rows.size(), n_cols = map.cols.size();
  Surface s(size + 90, size + 40);
  cairo_t* cr = s.cr();
  const double font = n_rows > 30 ? 8 : n_rows > 15 ? 10 : 12;
  double label_w = 0;
  for (const auto& r : map.rows) label_w = std::max(label_w, text_width(cr, shorten(r, 22), font));
  for (const auto& c : map.cols) label_w = std::max(label_w, text_width(cr, shorten(c, 22), font));
  const double left = label_w + 40, top = 50;
  const double side = size - left - 10;
  const double cw = n_cols ? side / static_cast<double>(n_cols) : side;
  const double ch = n_rows ? side / static_cast<double>(n_rows) : side;
  text(cr, map.title, (size + 90) / 2.0, 25, 18, Align::centre, true);
  double vmax = 0;
  for (const auto& row : map.values)
    for (double v : row) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  // White to dark blue (like matplotlib's "Blues").
  auto shade = [&](double v) {
    const double t = std::clamp(v / vmax, 0.0, 1.0);
    cairo_set_source_rgb(cr, 1 - t * (1 - 0.03), 1 - t * (1 - 0.19), 1 - t * (1 - 0.42));
  };
  for (std::size_t r = 0; r < n_rows; ++r) {
    for (std::size_t c = 0; c < n_cols; ++c) {
      const double v = r < map.values.size() && c < map.values[r].size() ? map.values[r][c] : 0;
      shade(v);
      cairo_rectangle(cr, left + c * cw, top + r * ch, cw, ch);
      cairo_fill(cr);
      if (n_rows <= 15 && v > 0) {
        const bool dark = v / vmax > 0.5;
        cairo_set_source_rgb(cr, dark ? 1 : 0.1, dark ? 1 : 0.1, dark ? 1 : 0.1);
        text(cr, tick_label(v, false), left + (c + 0.5) * cw, top + (r + 0.5) * ch, font,
             Align::centre);
      }
    }
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, left + 0.5, top + 0.5, cw * n_cols, ch * n_rows);
  cairo_stroke(cr);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  for (std::size_t r = 0; r < n_rows; ++r) {
    text(cr, shorten(map.rows[r], 22), left - 5, top + (r + 0.5) * ch, font, Align::right);
  }
  for (std::size_t c = 0; c < n_cols; ++c) {
    text(cr, shorten(map.cols[c], 22), left + (c + 0.5) * cw, top + side + 5, font, Align::right,
         false, -M_PI / 2);
  }
  text(cr, map.row_label, 14, top + side / 2, 14, Align::centre, false, -M_PI / 2);
  text(cr, map.col_label, left + side / 2, size + 28, 14, Align::centre);
  // Colour bar.
  const double bx = left + side + 20, bw = 16;
  for (int i = 0; i < 100; ++i) {
    shade(vmax * (1 - i / 100.0));
    cairo_rectangle(cr, bx, top + side * i / 100.0, bw, side / 100.0 + 1);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_rectangle(cr, bx + 0.5, top + 0.5, bw, side);
  cairo_stroke(cr);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  text(cr, tick_label(vmax, false), bx + bw + 4, top + 6, 11, Align::left);
  text(cr, "0", bx + bw + 4, top + side - 6, 11, Align::left);
  s.save(png);
}

void draw(const BarChart& chart, const std::filesystem::path& png, int width, int height) {
  Surface s(width, height);
  cairo_t* cr = s.cr();
  Axes ax{90, 50, width - 25.0, height - 70.0, 0, 1, 0, 1, false};
  const std::size_t n = chart.categories.size();
  ax.x0 = 0;
  ax.x1 = std::max<double>(1, static_cast<double>(n));
  double hi = 0;
  for (double v : chart.values) hi = std::max(hi, v);
  ax.y1 = hi > 0 ? hi * 1.15 : 1;
  ax.frame(cr, chart.title, chart.x_label, chart.y_label, width, false);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = i < chart.values.size() ? chart.values[i] : 0;
    const double x0 = ax.px(static_cast<double>(i) + 0.15),
                 x1 = ax.px(static_cast<double>(i) + 0.85);
    colour(cr, static_cast<int>(i));
    cairo_rectangle(cr, x0, ax.py(v), x1 - x0, ax.py(0) - ax.py(v));
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, tick_label(v, false), (x0 + x1) / 2, ax.py(v) - 10, 13, Align::centre, true);
    text(cr, chart.categories[i], (x0 + x1) / 2, ax.bottom + 14, 12, Align::centre);
  }
  s.save(png);
}

void pca_2d(const std::vector<float>& data, std::size_t rows, std::size_t cols,
            std::vector<double>& x, std::vector<double>& y) {
  x.assign(rows, 0);
  y.assign(rows, 0);
  if (rows < 2 || cols < 2) return;
  cv::Mat m(static_cast<int>(rows), static_cast<int>(cols), CV_32F,
            const_cast<float*>(data.data()));
  cv::PCA pca(m, cv::Mat(), cv::PCA::DATA_AS_ROW, 2);
  cv::Mat projected = pca.project(m);
  for (std::size_t i = 0; i < rows; ++i) {
    x[i] = projected.at<float>(static_cast<int>(i), 0);
    y[i] = projected.cols > 1 ? projected.at<float>(static_cast<int>(i), 1) : 0.0;
  }
}

}  // namespace clipface::report
