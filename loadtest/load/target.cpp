#include "loadtest/load/target.h"

namespace otaswarm::loadtest {

std::optional<Target> parse_target(std::string_view url, std::string& why) {
  Target t;
  std::string_view rest;
  if (url.starts_with("udp://")) {
    t.protocol = Protocol::udp;
    rest = url.substr(6);
  } else if (url.starts_with("http://")) {
    t.protocol = Protocol::http;
    rest = url.substr(7);
  } else {
    why = "expected udp://ip:port[/path] or http://ip:port[/path]";
    return std::nullopt;
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  auto hp = net::parse_host_port(authority);
  if (!hp || hp->port == 0 || hp->address.is_unspecified()) {
    why = "\"" + std::string(authority) + "\" is not an ip:port with a non-zero port";
    return std::nullopt;
  }
  t.server = *hp;
  t.host_header = net::format(hp->address, hp->port);
  if (slash != std::string_view::npos) t.path = std::string(rest.substr(slash));
  if (t.path.find_first_of("?# ") != std::string::npos) {
    why = "the path must not carry a query, fragment or space (the generator writes the query)";
    return std::nullopt;
  }
  if (t.path == "/") t.path.clear();
  if (t.protocol == Protocol::http && t.path.empty()) t.path = "/announce";
  return t;
}

bool target_allowed(const net::Address& raw, bool allow_private, std::string& why) {
  net::Address a = net::unmap(raw);
  if (a.is_loopback()) return true;
  if (allow_private && net::is_private(a)) return true;
  why = allow_private ? "target " + a.to_string() + " is neither loopback nor a private lab address"
                      : "target " + a.to_string() + " is not loopback (use --allow-private-target for a lab namespace)";
  return false;
}

}  // namespace otaswarm::loadtest
