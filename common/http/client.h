#pragma once
// One blocking HTTP/1.1 client (Beast) for the CLI and the simulator: one request per
// connection, a deadline for the whole exchange (resolve, connect, write, read) and a named
// limit on the response body. Every failure is a ClientError saying which step failed.
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http/url.h"

namespace otaswarm::http {

namespace bhttp = boost::beast::http;

// A JSON reply of the admin API or the device API is far below this; callers that fetch
// something larger (a release list) say so in ClientOptions.
inline constexpr size_t kDefaultResponseBodyLimit = 1u << 20;
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{10'000};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ClientOptions {
  std::chrono::milliseconds timeout = kDefaultRequestTimeout;  // the whole exchange
  size_t body_limit = kDefaultResponseBodyLimit;              // response body bytes
};

struct ClientReply {
  unsigned status = 0;
  std::string reason;
  Headers headers;
  std::string body;
  // The first header of that name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

class ClientError : public std::runtime_error {
 public:
  enum class Kind {
    resolve,         // the host name did not resolve
    connect,         // no server accepted the connection (refused, unreachable)
    timeout,         // the deadline passed before the whole reply arrived
    body_too_large,  // the reply's body exceeds ClientOptions::body_limit
    io,              // the connection broke while writing or reading
    protocol,        // the reply is not valid HTTP/1.1
  };
  ClientError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Sends one request to url.host:url.port (80 when absent; http only) for url.target, and
// returns the reply whatever its status; throws ClientError. Host, User-Agent and
// Content-Length are set unless `headers` names them.
ClientReply request(bhttp::verb method, const Url& url, const Headers& headers = {},
                    std::string body = {}, const ClientOptions& options = {});

}  // namespace otaswarm::http
