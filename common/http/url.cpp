#include "common/http/url.h"

#include <algorithm>
#include <charconv>
#include <cctype>

#include "common/config.h"

namespace otaswarm::http {

std::optional<Url> parse_url(std::string_view text) {
  if (text.empty() || text.size() > kMaxUrlLength) return std::nullopt;
  for (unsigned char c : text)
    if (c <= 0x20 || c == 0x7f) return std::nullopt;
  auto sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::nullopt;
  Url u;
  for (char c : text.substr(0, sep)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return std::nullopt;
    u.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  std::string_view rest = text.substr(sep + 3);
  size_t auth_end = std::min(rest.find('/'), rest.find('?'));
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (target.empty() || target[0] == '?') u.target.push_back('/');
  u.target.append(target);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return std::nullopt;
      port_text = after.substr(1);
      if (port_text.empty()) return std::nullopt;
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return std::nullopt;
    }
  }
  if (u.host.empty()) return std::nullopt;
  if (!port_text.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || v == 0 || v > 65535) return std::nullopt;
    u.port = static_cast<uint16_t>(v);
  }
  return u;
}

Url check_url(const std::string& key, const std::string& text, std::initializer_list<std::string_view> schemes) {
  auto u = parse_url(text);
  if (!u) throw config::ConfigError(key, "\"" + text + "\" is not a valid absolute URL");
  if (std::find(schemes.begin(), schemes.end(), u->scheme) == schemes.end()) {
    std::string allowed;
    for (auto s : schemes) allowed += (allowed.empty() ? "" : ", ") + std::string(s);
    throw config::ConfigError(key, "\"" + text + "\": scheme must be one of " + allowed);
  }
  if (u->scheme == "udp" && u->port == 0) throw config::ConfigError(key, "\"" + text + "\": a udp:// URL needs a port");
  return *u;
}

}  // namespace otaswarm::http
