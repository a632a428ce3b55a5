#include "text/html_unescape.hpp"

#include <cstdint>

namespace clipface::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr std::uint32_t kTooLarge = 0x110000;  // saturates long numbers: Python ints never overflow
constexpr std::size_t kMaxNameLength = 32;     // the {1,32} in Python's _charref pattern

bool is_ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_ascii_hex_digit(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
std::uint32_t hex_value(char32_t c) {
  if (is_ascii_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}
// The characters Python's pattern `[^\t\n\f <&#;]` excludes from a name.
bool may_be_in_name(char32_t c) {
  return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
         c != ';';
}

// html._invalid_charrefs: what browsers make of NUL, CR and the C1 range (windows-1252).
std::optional<char32_t> invalid_charref(std::uint32_t number) {
  static constexpr char32_t kC1[32] = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,  // 0x80-0x87
      0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,    // 0x88-0x8f
      0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,  // 0x90-0x97
      0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178,  // 0x98-0x9f
  };
  if (number == 0) return kReplacement;
  if (number == 0x0D) return U'\r';
  if (number >= 0x80 && number <= 0x9F) return kC1[number - 0x80];
  return std::nullopt;
}

// html._invalid_codepoints: control characters and non-characters, which unescape drops.
bool is_invalid_codepoint(std::uint32_t n) {
  return (n >= 0x1 && n <= 0x8) || n == 0xB || (n >= 0xE && n <= 0x1F) ||
         (n >= 0x7F && n <= 0x9F) || (n >= 0xFDD0 && n <= 0xFDEF) || (n & 0xFFFE) == 0xFFFE;
}

void append_numeric(std::u32string& out, std::uint32_t number) {
  if (auto mapped = invalid_charref(number)) {
    out.push_back(*mapped);
  } else if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) {
    out.push_back(kReplacement);
  } else if (!is_invalid_codepoint(number)) {
    out.push_back(static_cast<char32_t>(number));
  }
}

// Parses a numeric reference at text[pos] == '#'; returns the end, or pos when there is none.
std::size_t numeric_reference(std::u32string_view text, std::size_t pos, std::u32string& out) {
  std::size_t i = pos + 1;
  const bool hex = i < text.size() && (text[i] == 'x' || text[i] == 'X');
  if (hex) ++i;
  const std::size_t digits_begin = i;
  std::uint32_t number = 0;
  while (i < text.size() && (hex ? is_ascii_hex_digit(text[i]) : is_ascii_digit(text[i]))) {
    const std::uint32_t digit = hex ? hex_value(text[i]) : text[i] - '0';
    number = number >= kTooLarge ? kTooLarge : number * (hex ? 16 : 10) + digit;
    ++i;
  }
  if (i == digits_begin) return pos;
  if (i < text.size() && text[i] == ';') ++i;
  append_numeric(out, number);
  return i;
}

// Parses a named reference starting at text[pos] (after '&'); appends the replacement, which is
// the text itself when no prefix is a known name. Returns the end of the matched piece.
std::size_t named_reference(std::u32string_view text, std::size_t pos, std::u32string& out) {
  std::size_t end = pos;
  while (end < text.size() && end - pos < kMaxNameLength && may_be_in_name(text[end])) ++end;
  if (end == pos) return pos;
  if (end < text.size() && text[end] == ';') ++end;
  const std::u32string_view piece = text.substr(pos, end - pos);

  // Names are ASCII; a piece with other characters can still match on an ASCII prefix.
  std::string ascii;
  for (char32_t c : piece) {
    if (c >= 0x80) break;
    ascii.push_back(static_cast<char>(c));
  }
  if (ascii.size() == piece.size()) {
    if (auto value = lookup_html5_entity(ascii)) {
      out += *value;
      return end;
    }
  }
  // Python: the longest prefix of at least two characters that is a name (names without ';').
  for (std::size_t length = std::min(piece.size() - 1, ascii.size()); length >= 2; --length) {
    if (auto value = lookup_html5_entity(std::string_view(ascii).substr(0, length))) {
      out += *value;
      out += piece.substr(length);
      return end;
    }
  }
  out.push_back(U'&');
  out += piece;
  return end;
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != U'&' || i + 1 >= text.size()) {
      out.push_back(text[i++]);
      continue;
    }
    const std::size_t start = i + 1;
    const std::size_t end = text[start] == U'#' ? numeric_reference(text, start, out)
                                                : named_reference(text, start, out);
    if (end == start) {
      out.push_back(U'&');  // not a reference: keep the '&' and go on after it
      i = start;
    } else {
      i = end;
    }
  }
  return out;
}

}  // namespace clipface::text
