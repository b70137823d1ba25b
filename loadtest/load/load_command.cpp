#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/proto/torrent.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/proto/token.h"
#include "loadtest/load/load_command.h"
#include "loadtest/load/report.h"
#include "loadtest/load/runner.h"

namespace otaswarm::loadtest {
namespace {

using config::ConfigError;
using config::Kind;

inline constexpr double kMaxRate = 1'000'000;
inline constexpr double kMaxDurationS = 3600;
inline constexpr int64_t kMaxPhones = 1'000'000;
inline constexpr int64_t kMaxThreads = 16;
inline constexpr int64_t kMaxConcurrency = 65536;
inline constexpr int64_t kMaxSlots = 4096;  // sockets per worker; stays well under the fd limit
inline constexpr int64_t kMaxRequestsCap = 100'000'000;
inline constexpr int64_t kMaxTimeoutMs = 60'000;
inline constexpr int64_t kMaxNumwant = 200;
inline constexpr int64_t kMaxPeriodic = 1000;
inline constexpr size_t kPhoneNumberDigits = 8;
// Leaves room for a token within BEP 41's bounded URL data.
inline constexpr size_t kMaxPathBase = 512;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

config::Schema schema() {
  config::Schema s("otaswarm-loadtest load", "Open-loop announce load against a tracker on loopback.");
  s.add("tracker", Kind::string, "udp://ip:port[/announce[/TOKEN]] or http://ip:port[/announce[/TOKEN]]")
      .add("rate", Kind::number, "target announces per second (after the ramp)")
      .add("duration", Kind::number, "seconds of sending (ramp included)")
      .add("ramp", Kind::number, "seconds over which the rate climbs from 0 to --rate", {"0"})
      .add("phones", Kind::integer, "simulated phones (round-robin over the schedule)", {"10000"})
      .add("threads", Kind::integer, "generator threads (one io_context each)", {"1"})
      .add("concurrency", Kind::integer, "max requests in flight (UDP) / open connections (HTTP)", {"4096"})
      .add("max-requests", Kind::integer, "hard bound on requests offered", {"10000000"})
      .add("timeout-ms", Kind::integer, "a request unanswered after this long counts as a timeout", {"2000"})
      .add("numwant", Kind::integer, "peers asked for per announce", {"50"})
      .add("info-hash", Kind::list, "info-hash (40 hex chars) announced; phones spread over all given")
      .add("torrent", Kind::string, "take the info-hash and length from this .torrent")
      .add("token-key-file", Kind::string, "mint one device token per phone with this key (path /announce/<token>)")
      .add("device-prefix", Kind::string, "device ids in the minted tokens are PREFIX + phone number (a fresh "
           "prefix is a fresh population for the tracker's per-device limits)", {"loadtest-"})
      .add("token-ttl", Kind::integer, "seconds the minted tokens stay valid beyond the run", {"3600"})
      .add("source-ips", Kind::string, "spread phones over these loopback source addresses, e.g. 127.1.0.0/16")
      .add("sockets", Kind::integer, "source sockets (= distinct source addresses with --source-ips)", {"64"})
      .add("household-phones", Kind::integer,
           "phones per household: one source address (home router), one LAN and one NAT class", {"1"})
      .add("lan-hints", Kind::boolean, "phones send `localip` (192.168.1.x) and `lan` (hash naming the household)")
      .add("nat-mix", Kind::string,
           "phones send signed NAT tickets with classes drawn per household, e.g. "
           "public=0.05,full-cone=0.1,restricted=0.15,port-restricted=0.5,symmetric=0.2 (needs --token-key-file)")
      .add("nat-ticket-key-file", Kind::string, "the tracker's NAT-ticket key [default: --token-key-file]")
      .add("periodic", Kind::integer, "periodic announces between started and completed", {"2"})
      .add("stopped", Kind::boolean, "after completed, send stopped and start over")
      .add("allow-private-target", Kind::boolean, "also allow RFC 1918/ULA targets (own network namespaces)")
      .add("json", Kind::boolean, "print one JSON object on stdout")
      .add("progress", Kind::boolean, "live progress line on stderr even when it is not a terminal")
      .add("chart", Kind::string, "write a PNG chart (offered vs answered, p99) with gnuplot");
  return s;
}

crypto::Sha1 parse_info_hash(const std::string& hex) {
  auto raw = crypto::unhex(hex);
  if (hex.size() != 40 || !raw || raw->size() != 20)
    throw ConfigError("info-hash", "\"" + hex + "\" is not 40 hex characters");
  crypto::Sha1 h;
  std::copy(raw->begin(), raw->end(), h.begin());
  return h;
}

void load_torrent(const std::string& path, std::vector<crypto::Sha1>& hashes, int64_t& length) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError("torrent", "cannot read \"" + path + "\"");
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto parsed = torrent::parse(data);
  if (!parsed) throw ConfigError("torrent", "\"" + path + "\": " + parsed.message);
  hashes.push_back(parsed.metainfo->info_hash);
  if (uint64_t l = parsed.metainfo->length; l > 0 && l <= INT64_MAX) length = static_cast<int64_t>(l);
}

// --tracker and the rate, duration and concurrency bounds of the run.
void parse_run(const config::Values& v, LoadOptions& o) {
  for (const char* required : {"tracker", "rate", "duration"})
    if (!v.has(required)) throw ConfigError(required, "required (see --help)");
  std::string why;
  auto target = parse_target(v.str("tracker"), why);
  if (!target) throw ConfigError("tracker", why);
  if (!target_allowed(target->server.address, v.boolean("allow-private-target"), why))
    throw ConfigError("tracker", why);
  o.target = *target;
  o.rate = v.number("rate", 0.001, kMaxRate);
  o.duration_s = v.number("duration", 0.001, kMaxDurationS);
  o.ramp_s = v.number("ramp", 0, kMaxDurationS);
  if (o.ramp_s > o.duration_s) throw ConfigError("ramp", "longer than --duration");
  o.threads = static_cast<unsigned>(v.integer("threads", 1, kMaxThreads));
  o.concurrency = static_cast<uint32_t>(v.integer("concurrency", 1, kMaxConcurrency));
  o.max_requests = static_cast<uint64_t>(v.integer("max-requests", 1, kMaxRequestsCap));
  o.timeout_ns = v.integer("timeout-ms", 1, kMaxTimeoutMs) * 1'000'000;
  o.numwant = static_cast<int32_t>(v.integer("numwant", 0, kMaxNumwant));
  o.progress = v.boolean("progress") || ::isatty(STDERR_FILENO);
}

// Who announces what: phones, info-hashes, source addresses.
void parse_population(const config::Values& v, LoadOptions& o) {
  PopulationConfig& p = o.population;
  p.phones = static_cast<uint32_t>(v.integer("phones", 1, kMaxPhones));
  if (p.phones < o.threads) throw ConfigError("phones", "fewer phones than --threads");
  p.slots = static_cast<uint32_t>(v.integer("sockets", 1, kMaxSlots));
  p.lifecycle.periodic = static_cast<uint32_t>(v.integer("periodic", 0, kMaxPeriodic));
  p.lifecycle.send_stopped = v.boolean("stopped");
  for (const auto& h : v.list("info-hash")) p.info_hashes.push_back(parse_info_hash(h));
  if (v.has("torrent")) load_torrent(v.str("torrent"), p.info_hashes, p.torrent_length);
  if (p.info_hashes.empty()) throw ConfigError("info-hash", "give --info-hash HEX or --torrent FILE");

  if (v.has("source-ips")) {
    auto cidr = net::parse_cidr(v.str("source-ips"));
    if (!cidr) throw ConfigError("source-ips", "\"" + v.str("source-ips") + "\" is not a CIDR");
    if (!net::unmap(cidr->network).is_loopback() && !(v.boolean("allow-private-target") && net::is_private(cidr->network)))
      throw ConfigError("source-ips", "source addresses must be loopback (e.g. 127.1.0.0/16)");
    if (cidr->network.is_v4() != o.target.server.address.is_v4())
      throw ConfigError("source-ips", "address family differs from the tracker's");
    p.source_cidr = cidr;
  }
}

// What the phones carry: device tokens in the path, LAN hints, signed NAT tickets.
void parse_credentials(const config::Values& v, LoadOptions& o) {
  PopulationConfig& p = o.population;
  const std::string& path = o.target.path;
  if (v.has("token-key-file")) {
    if (!path.empty() && !path.ends_with("/announce"))
      throw ConfigError("token-key-file", "the --tracker URL already carries a token in its path \"" + path + "\"");
    p.token_key = config::read_secret_file("token-key-file", v.str("token-key-file"));
    p.device_prefix = v.str("device-prefix");
    if (!token::valid_device_id(p.device_prefix + "00000000") ||
        p.device_prefix.size() + kPhoneNumberDigits > token::kMaxDeviceIdLength)
      throw ConfigError("device-prefix", "not usable in a device id (printable, at most " +
                                             std::to_string(token::kMaxDeviceIdLength - kPhoneNumberDigits) + " bytes)");
    p.path_base = path.empty() ? "/announce" : path;
    int64_t ttl = v.integer("token-ttl", 1, kMaxDurationS * 24);
    p.token_expiry = SystemClock::instance().unix_seconds() + static_cast<int64_t>(o.duration_s) + ttl;
  } else {
    p.path_base = path;
  }
  if (p.path_base.size() > kMaxPathBase) throw ConfigError("tracker", "the announce path is too long");
  p.household_phones = static_cast<uint32_t>(v.integer("household-phones", 1, kMaxHouseholdPhones));
  p.lan_hints = v.boolean("lan-hints");
  if (v.has("nat-mix")) {
    if (p.token_key.empty()) throw ConfigError("nat-mix", "NAT tickets name the device: give --token-key-file");
    std::string err;
    p.nat_mix = parse_nat_mix(v.str("nat-mix"), err);
    if (!p.nat_mix) throw ConfigError("nat-mix", err);
    if (v.has("nat-ticket-key-file")) p.nat_key = config::read_secret_file("nat-ticket-key-file", v.str("nat-ticket-key-file"));
  } else if (v.has("nat-ticket-key-file")) {
    throw ConfigError("nat-ticket-key-file", "only used with --nat-mix");
  }
}

// Prints the report (JSON or text) and writes the chart; the exit code.
int report_run(const config::Values& v, const LoadOptions& o, const LoadResult& result) {
  auto report = make_report({v.str("tracker"), &o}, result);
  int rc = 0;
  if (v.has("chart")) {
    std::string err = write_chart(report, v.str("chart"));
    if (!err.empty()) {
      std::cerr << "otaswarm-loadtest load: chart: " << err << "\n";
      report["chart_error"] = err;
      rc = 1;
    } else {
      report["chart"] = v.str("chart");
    }
  }
  if (v.boolean("json")) std::cout << json_dump(report) << std::endl;
  else std::cout << text_summary(report);
  return rc;
}

}  // namespace

int load_command(const std::vector<std::string>& args) {
  auto s = schema();
  auto parsed = config::parse(s, args);
  if (parsed.help_requested) {
    std::cout << s.help_text();
    return 0;
  }
  const auto& v = parsed.values;
  LoadOptions o;
  parse_run(v, o);
  parse_population(v, o);
  parse_credentials(v, o);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  LoadResult result;
  try {
    result = run_load(o, g_stop);
  } catch (const std::exception& e) {
    std::cerr << "otaswarm-loadtest load: " << e.what() << "\n";
    return 1;
  }
  return report_run(v, o, result);
}

}  // namespace otaswarm::loadtest
