// XML escaping (see the header).
#include "devshare/core/xml_escape.h"

#include <cstddef>
#include <cstdint>

namespace devshare {

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
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
          if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') out += static_cast<char>(c);
      }
      continue;
    }
    // Non-ASCII: decode one UTF-8 sequence and emit a numeric character reference, so the
    // output is ASCII whatever the declared charset; malformed bytes become U+FFFD.
    const int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    char32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
    bool valid = len > 0 && i + len <= text.size();
    for (int k = 1; valid && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      valid = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const char32_t min_cp = len == 4 ? 0x10000 : len == 3 ? 0x800 : 0x80;
    valid = valid && cp >= min_cp && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    if (!valid) {
      out += "&#65533;";
      ++i;
      continue;
    }
    i += static_cast<std::size_t>(len);
    if (cp == 0xFFFE || cp == 0xFFFF) continue;  // not XML characters
    out += "&#" + std::to_string(static_cast<std::uint32_t>(cp)) + ";";
  }
  return out;
}

}  // namespace devshare
