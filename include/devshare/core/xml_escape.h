// XML / HTML text escaping shared by every writer of markup (libvirt domain XML, the SVG/HTML
// report). Thread-safety: pure function.
#ifndef DEVSHARE_CORE_XML_ESCAPE_H_
#define DEVSHARE_CORE_XML_ESCAPE_H_

#include <string>
#include <string_view>

namespace devshare {

// Escapes text for XML character data and quoted attribute values (either quote): & < > " '
// become references, control characters other than tab/CR/LF are dropped, and every non-ASCII
// UTF-8 sequence becomes a numeric character reference (malformed bytes: U+FFFD), so the
// output is ASCII and well-formed XML 1.0 whatever the input bytes.
std::string EscapeXml(std::string_view text);

}  // namespace devshare

#endif  // DEVSHARE_CORE_XML_ESCAPE_H_
