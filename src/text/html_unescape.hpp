// Python's html.unescape() on code points, which CLIP's basic_clean applies twice.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace clipface::text {

// Replaces numeric (&#65; &#x41;) and named (&amp; &lt ...) character references exactly as
// Python 3.11's html.unescape does, including names without ';' and its invalid-number rules.
std::u32string html_unescape(std::u32string_view text);

// The value of one HTML5 named reference ("amp;", "amp", "NotEqualTilde;"), if it is one.
std::optional<std::u32string> lookup_html5_entity(std::string_view name);

}  // namespace clipface::text
