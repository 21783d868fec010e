// Tests of EscapeXml: the five specials, control characters, UTF-8 to numeric references,
// malformed input.
#include "devshare/core/xml_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace devshare {
namespace {

TEST(EscapeXmlTest, Table) {
  struct Case {
    std::string in;
    std::string want;
  };
  const Case cases[] = {
      {"plain_name", "plain_name"},
      {"a<&>b", "a&lt;&amp;&gt;b"},
      {"\"q\" 'a'", "&quot;q&quot; &#39;a&#39;"},
      {"bell\x07tab\t", "belltab\t"},
      {"\xC2\xB5s", "&#181;s"},                // U+00B5
      {"\xE2\x80\x93", "&#8211;"},             // U+2013
      {"\xF0\x9F\x98\x80", "&#128512;"},       // U+1F600
      {"bad\xFFz", "bad&#65533;z"},            // malformed byte
      {"cut\xE2\x80", "cut&#65533;&#65533;"},  // truncated sequence
      {"\xC0\xAF", "&#65533;&#65533;"},        // overlong encoding
      {"", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(EscapeXml(c.in), c.want) << c.in;
}

}  // namespace
}  // namespace devshare
