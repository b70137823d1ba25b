#pragma once
// The self-contained status page (tracker/status/index.html), embedded at build time.
#include <string_view>

namespace otaswarm {
extern const std::string_view kStatusPageHtml;
}
