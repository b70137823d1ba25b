#pragma once
// JSON for ready lines, logs, admin and device APIs and reports (nlohmann/json). Ordered: keys
// stay in the order they were set, so outputs read as they are built.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace otaswarm {

using Json = nlohmann::ordered_json;

// Deeper input is refused before parsing: nlohmann's parser recurses once per level.
inline constexpr size_t kMaxJsonDepth = 64;

// Compact text; invalid UTF-8 (untrusted bytes in a log field) becomes U+FFFD instead of throwing.
std::string json_dump(const Json& value);

// The document, or nullopt with `error` saying what is wrong; never throws.
std::optional<Json> json_parse(std::string_view text, std::string& error);

}  // namespace otaswarm
