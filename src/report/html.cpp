#include <fstream>

#include "clipface/errors.hpp"
#include "clipface/report.hpp"

namespace clipface::report {

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

HtmlPage::HtmlPage(std::string title) : title_(std::move(title)) {}

void HtmlPage::warning(const std::string& text) {
  body_ += "<p class=\"warning\">" + escape_html(text) + "</p>\n";
}
void HtmlPage::heading(const std::string& text) {
  body_ += "<h2>" + escape_html(text) + "</h2>\n";
}
void HtmlPage::paragraph(const std::string& text) {
  body_ += "<p>" + escape_html(text) + "</p>\n";
}
void HtmlPage::preformatted(const std::string& text) {
  body_ += "<pre>" + escape_html(text) + "</pre>\n";
}

void HtmlPage::table(const std::vector<std::string>& header,
                     const std::vector<std::vector<std::string>>& rows) {
  body_ += "<table>\n<tr>";
  for (const auto& h : header) body_ += "<th>" + escape_html(h) + "</th>";
  body_ += "</tr>\n";
  for (const auto& row : rows) {
    body_ += "<tr>";
    for (const auto& cell : row) body_ += "<td>" + escape_html(cell) + "</td>";
    body_ += "</tr>\n";
  }
  body_ += "</table>\n";
}

void HtmlPage::image(const std::string& file, const std::string& caption) {
  body_ += "<figure><img src=\"" + escape_html(file) + "\" alt=\"" + escape_html(caption) +
           "\"><figcaption>" + escape_html(caption) + "</figcaption></figure>\n";
}

void HtmlPage::images_side_by_side(const std::vector<std::string>& files,
                                   const std::string& caption) {
  body_ += "<figure class=\"pair\">";
  for (const auto& f : files) body_ += "<img src=\"" + escape_html(f) + "\" alt=\"crop\">";
  body_ += "<figcaption>" + escape_html(caption) + "</figcaption></figure>\n";
}

std::string HtmlPage::html() const {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
         escape_html(title_) +
         "</title>\n<style>\nbody{font-family:sans-serif;max-width:1100px;margin:2em auto;"
         "color:#222}\ntable{border-collapse:collapse;margin:1em 0}\nth,td{border:1px solid #ccc;"
         "padding:4px 10px;text-align:right}\nth{background:#f0f0f0}\ntd:first-child{text-align:"
         "left}\nfigure{display:inline-block;margin:0.5em}\nfigure.pair img{width:150px;"
         "margin-right:4px}\nfigcaption{font-size:0.9em;color:#555}\n.warning{background:#c00;"
         "color:#fff;font-weight:bold;padding:0.6em;font-size:1.2em}\npre{background:#f7f7f7;"
         "padding:0.6em}\n</style></head><body>\n<h1>" +
         escape_html(title_) + "</h1>\n" + body_ + "</body></html>\n";
}

void HtmlPage::write(const std::filesystem::path& path) const {
  std::ofstream out(path);
  if (!out || !(out << html()) || !out.flush()) {
    throw InputError("cannot write report '" + path.string() + "'");
  }
}

}  // namespace clipface::report
