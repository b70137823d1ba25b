// `otaswarm release add|list|show|rm`: a client of the tracker's admin API.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/proto/torrent.h"
#include "common/config.h"
#include "common/crypto.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "common/http/client.h"
#include "common/http/url.h"

namespace otaswarm::cli {

namespace {

using Method = boost::beast::http::verb;

constexpr int64_t kDefaultTimeoutMs = 10'000;
constexpr int64_t kMaxTimeoutMs = 600'000;
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

struct Request {
  http::Url server;
  Method method = Method::get;
  std::string body;
  std::string content_type;
};

std::string read_torrent(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw config::ConfigError("FILE", "cannot read \"" + path + "\"");
  std::string data;
  data.resize(torrent::kMaxTorrentBytes + 1);
  f.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(f.gcount()));
  if (data.size() > torrent::kMaxTorrentBytes)
    throw config::ConfigError("FILE", "\"" + path + "\" is larger than " + std::to_string(torrent::kMaxTorrentBytes) + " bytes");
  // Only what is not a torrent at all is refused here; the tracker judges the rest (a public
  // torrent is its refusal, exit status 1, not a bad argument).
  auto parsed = torrent::parse(data);
  if (parsed.error == torrent::Error::not_bencoded || parsed.error == torrent::Error::no_info)
    throw config::ConfigError("FILE", "\"" + path + "\" is not a .torrent file (" + parsed.message + ")");
  return data;
}

std::string info_hash_arg(const std::string& text) {
  std::string h = text;
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (h.size() != kInfoHashHexLength || !crypto::unhex(h))
    throw config::ConfigError("INFO_HASH", "\"" + text + "\" is not a 40-character hex info-hash");
  return h;
}

const char* verb_name(Method v) {
  switch (v) {
    case Method::post: return "POST";
    case Method::delete_: return "DELETE";
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
    rq.method = Method::post;
    rq.body = read_torrent(p.positional[0]);
    rq.content_type = "application/x-bittorrent";
    base = "/api/v1/releases";
  } else if (verb == "list") {
    expect_positional(p, 0, "");
    base = "/api/v1/releases";
  } else if (verb == "show" || verb == "rm") {
    expect_positional(p, 1, "INFO_HASH");
    rq.method = verb == "rm" ? Method::delete_ : Method::get;
    base = "/api/v1/releases/" + info_hash_arg(p.positional[0]);
  } else {
    throw config::ConfigError(verb, "unknown release command (add, list, show, rm)");
  }

  rq.server = http::check_url("admin", required(p.values, "admin"), {"http"});
  if (rq.server.target.find('?') != std::string::npos)
    throw config::ConfigError("admin", "the admin URL must not carry a query");
  std::string prefix = rq.server.target;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  rq.server.target = prefix + base;
  http::Headers headers = {{"User-Agent", "otaswarm-cli"},
                           {"Accept", "application/json"},
                           {"Authorization", "Bearer " + config::read_secret_file("admin-token-file",
                                                                                  required(p.values, "admin-token-file"))}};
  if (!rq.content_type.empty()) headers.emplace_back("Content-Type", rq.content_type);
  http::ClientOptions options;
  options.timeout = std::chrono::milliseconds(p.values.integer("timeout-ms", 1, kMaxTimeoutMs));
  options.body_limit = kMaxResponseBytes;

  const std::string what = std::string(verb_name(rq.method)) + " " + rq.server.target;
  http::ClientReply reply;
  try {
    reply = http::request(rq.method, rq.server, headers, std::move(rq.body), options);
  } catch (const http::ClientError& e) {
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
