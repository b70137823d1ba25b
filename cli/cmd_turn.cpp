// `otaswarm turn credentials`: fetches coturn REST credentials from the rendezvous device API.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iostream>

#include "common/config.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "common/http/url.h"

namespace otaswarm::cli {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;

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
  Url url = check_url("rendezvous", required(p.values, "rendezvous"), {"http"});
  const std::string tok = required(p.values, "token");
  auto timeout = std::chrono::milliseconds(p.values.integer("timeout-ms", 1, 600'000));
  if (url.port == 0) url.port = 80;
  std::string base = url.target == "/" ? "" : url.target;
  while (!base.empty() && base.back() == '/') base.pop_back();

  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  try {
    tcp::resolver resolver(ioc);
    stream.connect(resolver.resolve(url.host, std::to_string(url.port)));
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, base + "/v1/turn-credentials", 11};
    bool v6 = url.host.find(':') != std::string::npos;
    req.set(bhttp::field::host, (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port));
    req.set(bhttp::field::user_agent, "otaswarm-cli");
    req.set(bhttp::field::authorization, "Bearer " + tok);
    req.prepare_payload();
    bhttp::write(stream, req);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    bhttp::read(stream, buf, parser);
    auto& res = parser.get();
    if (res.result_int() / 100 != 2) {
      std::cerr << "otaswarm turn credentials: " << res.result_int() << " " << res.reason() << ": " << res.body()
                << "\n";
      return 1;
    }
    std::cout << res.body() << "\n";
    return 0;
  } catch (const boost::system::system_error& e) {
    std::cerr << "otaswarm turn credentials: " << url.host << ":" << url.port << ": " << e.code().message() << "\n";
    return 1;
  }
}

}  // namespace otaswarm::cli
