// otaswarm-agent: the device side (CONTRACT.md "Device agent"). `fetch` downloads one release.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "agent/fetch.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "common/net.h"

namespace {
using otaswarm::config::ConfigError;
using otaswarm::config::Kind;

constexpr const char* kUsage = R"(usage: otaswarm-agent fetch TORRENT --token T --out DIR [options]
Downloads the release for one device; exits 0 once the file is at DIR/<name>, complete and
every piece verified, 1 on failure (the last JSON line says why), 2 on bad arguments.
Run `otaswarm-agent fetch --help` for the options.
)";
constexpr int64_t kMaxSeconds = 365LL * 24 * 3600;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

otaswarm::config::Schema schema() {
  otaswarm::config::Schema s("otaswarm-agent fetch", "download one release for one device");
  s.add("token", Kind::string, "device token, appended as /<token> to every announce URL")
      .add("out", Kind::string, "output directory: the file appears at DIR/<name> once verified")
      .add("announce", Kind::list, "tracker URL replacing the torrent's (repeatable)")
      .add("webseed", Kind::list, "web seed URL replacing the torrent's (repeatable)")
      .add("rendezvous", Kind::string, "rendezvous STUN address HOST:PORT (NAT traversal: the agent owns --listen, registers, punches)", {""})
      .add("rendezvous-api", Kind::string, "rendezvous device API URL (TURN credentials for relayed peers)", {""})
      .add("listen", Kind::string, "BitTorrent listen address IP:PORT", {"0.0.0.0:0"})
      .add("lan-hint", Kind::string, "auto (salted hash of the default gateway), off, or the hint", {"auto"})
      .add("route-file", Kind::string, "routing table for --lan-hint auto", {otaswarm::agent::kProcNetRoute})
      .add("neighbour-file", Kind::string, "neighbour table (/proc/net/arp or `ip neigh` output)",
           {otaswarm::agent::kProcNetArp})
      .add("seed-time", Kind::integer, "seconds to keep uploading after completion", {"0"})
      .add("state-dir", Kind::string, "resume data and partial download (default DIR/.otaswarm-<info-hash>)", {""})
      .add("stall-timeout", Kind::integer, "seconds without any progress before giving up",
           {std::to_string(otaswarm::agent::kDefaultStallTimeout.count())})
      .add("json", Kind::boolean, "JSON lines on stdout (the default when stdout is not a terminal)", {"false"})
      .add("log-level", Kind::string, "debug, info, warn or error", {"info"});
  return s;
}

// Positional words apart from --flags (and their values).
std::vector<std::string> split(const otaswarm::config::Schema& s, const std::vector<std::string>& args,
                               std::vector<std::string>& flags) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      flags.push_back(a);
      std::string name = a.substr(2);
      if (name.find('=') != std::string::npos || name == "help") continue;
      const auto* opt = s.find(name);
      if ((name == "config" || (opt && opt->kind != Kind::boolean)) && i + 1 < args.size()) flags.push_back(args[++i]);
    } else if (a == "-h") {
      flags.push_back(a);
    } else {
      positional.push_back(a);
    }
  }
  return positional;
}

int fetch(const std::vector<std::string>& args) {
  auto s = schema();
  std::vector<std::string> flags;
  auto positional = split(s, args, flags);
  auto parsed = otaswarm::config::parse(s, flags);
  if (parsed.help_requested) {
    std::cout << kUsage << s.help_text();
    return 0;
  }
  const auto& v = parsed.values;
  if (positional.size() != 1) throw ConfigError("TORRENT", "expected exactly one torrent file");
  otaswarm::agent::FetchOptions o;
  o.torrent_path = positional[0];
  o.token = v.str("token");
  if (o.token.empty()) throw ConfigError("token", "is required");
  o.out_dir = v.str("out");
  if (o.out_dir.empty()) throw ConfigError("out", "is required");
  o.announce = v.list("announce");
  o.webseeds = v.list("webseed");
  o.listen = v.str("listen");
  if (!otaswarm::net::parse_host_port(o.listen)) throw ConfigError("listen", "expected IP:PORT, e.g. 0.0.0.0:6881");
  o.lan_hint = v.str("lan-hint");
  if (o.lan_hint.empty()) throw ConfigError("lan-hint", "expected auto, off or a hint");
  o.lan_sources.route_path = v.str("route-file");
  o.lan_sources.neighbour_path = v.str("neighbour-file");
  o.seed_time = std::chrono::seconds(v.integer("seed-time", 0, kMaxSeconds));
  o.stall_timeout = std::chrono::seconds(v.integer("stall-timeout", 1, kMaxSeconds));
  o.state_dir = v.str("state-dir");
  if (!v.str("rendezvous").empty()) {
    o.rendezvous = otaswarm::net::parse_host_port(v.str("rendezvous"));
    if (!o.rendezvous) throw ConfigError("rendezvous", "expected IP:PORT of the rendezvous's STUN listener");
  }
  o.rendezvous_api = v.str("rendezvous-api");
  o.json = v.boolean("json") || !isatty(STDOUT_FILENO);
  otaswarm::log::Level level;
  if (!otaswarm::log::parse_level(v.str("log-level"), level)) throw ConfigError("log-level", "expected debug, info, warn or error");
  otaswarm::log::set_level(level);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  return otaswarm::agent::run_fetch(o, std::cout, g_stop);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto rc = otaswarm::config::top_level_usage(args, kUsage)) return *rc;
  if (args[0] != "fetch") {
    std::cerr << "otaswarm-agent: unknown command '" << args[0] << "'\n" << kUsage;
    return 2;
  }
  try {
    return otaswarm::config::guarded_main([&] { return fetch(std::vector<std::string>(args.begin() + 1, args.end())); });
  } catch (const std::exception& e) {
    otaswarm::Json line;
    line["done"] = false;
    line["error"] = std::string("internal error: ") + e.what();
    std::cout << otaswarm::json_dump(line) << std::endl;
    return 1;
  }
}
