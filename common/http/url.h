#pragma once
// Minimal absolute-URL splitting (CLI flags, the HTTP client): scheme://host[:port][/path?query].
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace otaswarm::http {

struct Url {
  std::string scheme;  // lower case
  std::string host;    // without brackets for IPv6
  uint16_t port = 0;   // 0 when absent
  std::string target;  // path + query, "/" when absent
};

inline constexpr size_t kMaxUrlLength = 2048;

std::optional<Url> parse_url(std::string_view text);

// Throws config::ConfigError(key) unless `text` parses and its scheme is one of `schemes`
// (udp URLs must also carry a port).
Url check_url(const std::string& key, const std::string& text, std::initializer_list<std::string_view> schemes);

}  // namespace otaswarm::http
