#pragma once
// The one URL percent codec (RFC 3986): the HTTP announce query (tracker), the load
// generator's announce targets and the --store URL's user info all use it. It sits in
// common/ because common/redis may include only common (docs/architecture.md).
#include <optional>
#include <string>
#include <string_view>

namespace otaswarm::percent {

// Appends `bytes` to `out`, every byte outside RFC 3986 "unreserved" as %XX (upper-case hex).
void encode(std::string& out, std::string_view bytes);
std::string encode(std::string_view bytes);

// '+' is a space only in a form-encoded query (what HTTP announces are); everywhere else in
// a URL, such as its user info, it is itself.
enum class Plus { literal, space };

// Decodes %XX (either case); nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> decode(std::string_view text, Plus plus = Plus::literal);

}  // namespace otaswarm::percent
