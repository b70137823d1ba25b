// `otaswarm turn credentials`: fetches coturn REST credentials from the rendezvous device API.
#include <chrono>
#include <iostream>

#include "common/config.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "common/http/client.h"
#include "common/http/url.h"

namespace otaswarm::cli {

namespace {
constexpr size_t kMaxResponseBytes = 64 * 1024;
constexpr int64_t kDefaultTimeoutMs = 10'000;

constexpr const char* kHelp = R"(usage: otaswarm turn credentials --rendezvous URL --token T [--timeout-ms N]
POSTs to URL/v1/turn-credentials with "Authorization: Bearer T" (a device token) and prints
the JSON reply: {"username","password","ttl","expiry","uris"}.
Exit status: 0 ok, 1 refused or unreachable (message on stderr), 2 bad arguments.
)";
}  // namespace

int turn_credentials(const Args& args) {
  config::Schema schema("otaswarm turn credentials", "Fetch TURN credentials.");
  schema.add("rendezvous", config::Kind::string, "rendezvous device API URL (http://host:port)")
      .add("token", config::Kind::string, "device token")
      .add("timeout-ms", config::Kind::integer, "whole request deadline", {std::to_string(kDefaultTimeoutMs)});
  auto p = parse_args(schema, args);
  if (p.help_requested) {
    std::cout << kHelp;
    return 0;
  }
  expect_positional(p, 0, "");
  http::Url url = http::check_url("rendezvous", required(p.values, "rendezvous"), {"http"});
  const std::string tok = required(p.values, "token");
  http::ClientOptions options;
  options.timeout = std::chrono::milliseconds(p.values.integer("timeout-ms", 1, 600'000));
  options.body_limit = kMaxResponseBytes;
  if (url.port == 0) url.port = 80;
  std::string base = url.target == "/" ? "" : url.target;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string server = url.host + ":" + std::to_string(url.port);
  url.target = base + "/v1/turn-credentials";

  http::ClientReply res;
  try {
    res = http::request(boost::beast::http::verb::post, url,
                        {{"User-Agent", "otaswarm-cli"}, {"Authorization", "Bearer " + tok}}, {}, options);
  } catch (const http::ClientError& e) {
    std::cerr << "otaswarm turn credentials: " << server << ": " << e.what() << "\n";
    return 1;
  }
  if (res.status / 100 != 2) {
    std::cerr << "otaswarm turn credentials: " << res.status << " " << res.reason << ": " << res.body << "\n";
    return 1;
  }
  std::cout << res.body << "\n";
  return 0;
}

}  // namespace otaswarm::cli
