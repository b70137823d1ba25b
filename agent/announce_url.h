#pragma once
// Announce URLs of one device: the torrent's (or --announce's) tracker URL + "/<token>", with the
// otaswarm parameters (`localip`, `lan`) in the query. libtorrent appends its own parameters to an
// HTTP URL's query with '&', and sends a UDP URL's path and query as BEP 41 URL data, which the
// tracker reads the same way (tracker/frontend/udp_server.cpp), so one form serves both.
#include <string>
#include <string_view>
#include <vector>

namespace otaswarm::agent {

struct AnnounceExtras {
  std::string localip;  // the device's LAN address; empty = not sent
  std::string lan;      // the LAN hint; empty = not sent
};

// `base` is e.g. "http://t:80/announce" or "udp://t:6969/announce?x=1"; the token goes at the
// end of the path (before any query), percent-encoded outside RFC 3986 unreserved characters.
std::string announce_url(std::string_view base, std::string_view token, const AnnounceExtras& extras);

// Percent-encodes everything but A-Z a-z 0-9 - . _ ~
std::string url_escape(std::string_view s);

}  // namespace otaswarm::agent
