#include <utility>  // std::exchange, which Boost 1.74's awaitable.hpp uses without including
// `otaswarm release add|list|show|rm`: a client of the tracker's admin API.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/proto/bencode.h"
#include "common/config.h"
#include "common/crypto.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "common/http/url.h"

namespace otaswarm::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr int64_t kDefaultTimeoutMs = 10'000;
constexpr int64_t kMaxTimeoutMs = 600'000;
constexpr size_t kMaxTorrentBytes = 10u << 20;    // libtorrent's own limit for a .torrent
constexpr size_t kMaxResponseBytes = 64u << 20;   // a release list with many entries
constexpr size_t kMaxErrorEcho = 2000;            // bytes of an error body echoed on stderr
constexpr size_t kInfoHashHexLength = 40;
constexpr int kExitFailure = 1;

constexpr const char* kHelp = R"(usage: otaswarm release add  --admin URL --admin-token-file F FILE.torrent
       otaswarm release list --admin URL --admin-token-file F
       otaswarm release show --admin URL --admin-token-file F INFO_HASH
       otaswarm release rm   --admin URL --admin-token-file F INFO_HASH
Talks to the tracker's admin API (URL like http://127.0.0.1:9090) with the bearer token
read from F, and prints the server's JSON reply on stdout. Options: --timeout-ms N
(whole request, default 10000).
Exit status: 0 ok, 1 the server refused (non-2xx, message on stderr) or was unreachable,
2 bad arguments.
)";

struct Reply {
  unsigned status = 0;
  std::string reason;
  std::string body;
};

struct Request {
  Url server;
  http::verb method = http::verb::get;
  std::string target;
  std::string body;
  std::string content_type;
  std::string bearer;
};

class RequestFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

asio::awaitable<void> exchange(const Request& rq, Reply& out) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(rq.server.host, std::to_string(rq.server.port), asio::use_awaitable);
  beast::tcp_stream stream(ex);
  co_await stream.async_connect(endpoints, asio::use_awaitable);

  http::request<http::string_body> req{rq.method, rq.target, 11};
  bool v6 = rq.server.host.find(':') != std::string::npos;
  req.set(http::field::host, (v6 ? "[" + rq.server.host + "]" : rq.server.host) + ":" + std::to_string(rq.server.port));
  req.set(http::field::user_agent, "otaswarm-cli");
  req.set(http::field::accept, "application/json");
  req.set(http::field::authorization, "Bearer " + rq.bearer);
  if (!rq.content_type.empty()) req.set(http::field::content_type, rq.content_type);
  req.body() = rq.body;
  req.prepare_payload();
  co_await http::async_write(stream, req, asio::use_awaitable);

  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  co_await http::async_read(stream, buf, parser, asio::use_awaitable);
  auto& res = parser.get();
  out.status = res.result_int();
  out.reason = std::string(res.reason());
  out.body = std::move(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

// Runs one request to completion or until the deadline; throws RequestFailed.
Reply perform(const Request& rq, std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  Reply reply;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(ioc, exchange(rq, reply), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  ioc.run_for(timeout);
  if (!done) throw RequestFailed("no reply within " + std::to_string(timeout.count()) + " ms");
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
      throw RequestFailed(e.code().message());
    } catch (const std::exception& e) {
      throw RequestFailed(e.what());
    }
  }
  return reply;
}

std::string read_torrent(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw config::ConfigError("FILE", "cannot read \"" + path + "\"");
  std::string data;
  data.resize(kMaxTorrentBytes + 1);
  f.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(f.gcount()));
  if (data.size() > kMaxTorrentBytes)
    throw config::ConfigError("FILE", "\"" + path + "\" is larger than " + std::to_string(kMaxTorrentBytes) + " bytes");
  bencode::Limits lim;
  lim.strict_key_order = false;
  auto r = bencode::decode(data, lim);
  if (!r || !r.value.is_dict() || !r.value.find("info") || !r.value.find("info")->is_dict())
    throw config::ConfigError("FILE", "\"" + path + "\" is not a .torrent file (" +
                                          (r ? std::string("no info dictionary") : bencode::to_string(r.error)) + ")");
  return data;
}

std::string info_hash_arg(const std::string& text) {
  std::string h = text;
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (h.size() != kInfoHashHexLength || !crypto::unhex(h))
    throw config::ConfigError("INFO_HASH", "\"" + text + "\" is not a 40-character hex info-hash");
  return h;
}

const char* verb_name(http::verb v) {
  switch (v) {
    case http::verb::post: return "POST";
    case http::verb::delete_: return "DELETE";
    default: return "GET";
  }
}

}  // namespace

int release_command(const std::string& verb, const Args& args) {
  config::Schema schema("otaswarm release " + verb, "Manage releases through the tracker's admin API.");
  schema.add("admin", config::Kind::string, "admin API base URL, e.g. http://127.0.0.1:9090")
      .add("admin-token-file", config::Kind::string, "file holding the admin bearer token")
      .add("timeout-ms", config::Kind::integer, "deadline for the whole request", {std::to_string(kDefaultTimeoutMs)});
  auto p = parse_args(schema, args);
  if (p.help_requested || verb == "--help" || verb == "-h") {
    std::cout << kHelp;
    return 0;
  }

  Request rq;
  std::string base;
  if (verb == "add") {
    expect_positional(p, 1, "FILE");
    rq.method = http::verb::post;
    rq.body = read_torrent(p.positional[0]);
    rq.content_type = "application/x-bittorrent";
    base = "/api/v1/releases";
  } else if (verb == "list") {
    expect_positional(p, 0, "");
    base = "/api/v1/releases";
  } else if (verb == "show" || verb == "rm") {
    expect_positional(p, 1, "INFO_HASH");
    rq.method = verb == "rm" ? http::verb::delete_ : http::verb::get;
    base = "/api/v1/releases/" + info_hash_arg(p.positional[0]);
  } else {
    throw config::ConfigError(verb, "unknown release command (add, list, show, rm)");
  }

  rq.server = check_url("admin", required(p.values, "admin"), {"http"});
  if (rq.server.target.find('?') != std::string::npos)
    throw config::ConfigError("admin", "the admin URL must not carry a query");
  if (rq.server.port == 0) rq.server.port = 80;
  std::string prefix = rq.server.target;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  rq.target = prefix + base;
  rq.bearer = config::read_secret_file("admin-token-file", required(p.values, "admin-token-file"));
  auto timeout = std::chrono::milliseconds(p.values.integer("timeout-ms", 1, kMaxTimeoutMs));

  const std::string what = std::string(verb_name(rq.method)) + " " + rq.target;
  Reply reply;
  try {
    reply = perform(rq, timeout);
  } catch (const RequestFailed& e) {
    std::cerr << "otaswarm release " << verb << ": " << what << ": " << e.what() << "\n";
    return kExitFailure;
  }
  if (reply.status < 200 || reply.status > 299) {
    std::string body = reply.body.substr(0, kMaxErrorEcho);
    for (char& c : body)
      if (c == '\n' || c == '\r') c = ' ';  // the message stays one line
    std::cerr << "otaswarm release " << verb << ": " << what << ": HTTP " << reply.status << " " << reply.reason
              << (body.empty() ? "" : ": ") << body << "\n";
    return kExitFailure;
  }
  std::cout << reply.body;
  if (reply.body.empty() || reply.body.back() != '\n') std::cout << "\n";
  return 0;
}

}  // namespace otaswarm::cli
