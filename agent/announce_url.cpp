#include "agent/announce_url.h"

#include <cctype>

namespace otaswarm::agent {

std::string url_escape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string o;
  o.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      o.push_back(static_cast<char>(c));
    } else {
      o.push_back('%');
      o.push_back(kHex[c >> 4]);
      o.push_back(kHex[c & 15]);
    }
  }
  return o;
}

std::string announce_url(std::string_view base, std::string_view token, const AnnounceExtras& extras) {
  size_t q = base.find('?');
  std::string_view path = base.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : base.substr(q + 1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::string out(path);
  if (!token.empty()) out += "/" + url_escape(token);
  std::string params(query);
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    if (!params.empty()) params += "&";
    params += key;
    params += "=";
    params += url_escape(value);
  };
  add("localip", extras.localip);
  add("lan", extras.lan);
  if (!params.empty()) out += "?" + params;
  return out;
}

}  // namespace otaswarm::agent
