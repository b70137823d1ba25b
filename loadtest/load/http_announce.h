#pragma once
// HTTP announce (BEP 3/23) for the generator: the request target and a reply classifier.
#include <cstdint>
#include <string>
#include <string_view>

#include "loadtest/load/population.h"

namespace otaswarm::loadtest {

// "<path>?info_hash=…" (or "<path>&info_hash=…" when the path carries a query already):
// "<path>?info_hash=…&peer_id=…&port=…&uploaded=…&downloaded=…&left=…&compact=1&numwant=…[&event=…]&key=…"
std::string http_announce_target(const Announce& a, int32_t numwant);

enum class HttpReplyKind { ok, tracker_failure, bad_reply };
struct HttpReply {
  HttpReplyKind kind = HttpReplyKind::bad_reply;
  size_t peers = 0;
  std::string failure_reason;
};

// Classifies a 200 response body: a bencoded dict with "interval" and "peers" (compact string,
// or list), or with "failure reason".
HttpReply classify_http_reply(std::string_view body);

}  // namespace otaswarm::loadtest
