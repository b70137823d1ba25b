#include "loadtest/swarm/tracker_directory.h"

#include <cstring>
#include <ctime>
#include <thread>

#include "common/proto/bencode.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/proto/nat.h"
#include "common/proto/token.h"

namespace otaswarm::sim {

namespace {

constexpr int64_t kCredentialLifetimeS = 24 * 3600;
// The tracker answers a periodic announce sooner than 0.9 × --min-interval (1 s, its floor)
// without peers; the simulated clock runs faster than the wall clock, so wait that out.
constexpr auto kMinWallGap = std::chrono::milliseconds(1000);
constexpr const char* kMinInterval = "1";
constexpr const char* kUnlimitedRate = "1000000";
constexpr const char* kWebseedUrl = "https://ota-bucket.s3.amazonaws.com/release/ota.zip";
constexpr size_t kHintHexChars = 16;
constexpr size_t kDeviceIdHexChars = 16;

// Opaque ids, as an update backend would use: sequential ones would all get the same interval
// jitter from the tracker's hash.
std::string device_id(uint32_t id) {
  auto h = crypto::sha256("sim-phone-" + std::to_string(id));
  return "sim-" + crypto::hex(std::span<const uint8_t>(h.data(), h.size())).substr(0, kDeviceIdHexChars);
}

std::array<uint8_t, 20> peer_id(uint32_t id) {
  std::array<uint8_t, 20> out{};
  std::string text = "-OS0001-" + std::to_string(1000000000000ull + id).substr(1);
  std::memcpy(out.data(), text.data(), std::min(text.size(), out.size()));
  return out;
}

}  // namespace

std::vector<std::string> tracker_flags(const Policy& pol, const Calibration& cal, uint64_t seed) {
  return {// The tracker reads 0 as "random": shift by one so --seed 0 is repeatable too.
          "--selection-seed=" + std::to_string(seed + 1),
          std::string("--peer-selection=") + (pol.locality ? "locality" : "random"),
          std::string("--reachability=") + (pol.reachability ? "true" : "false"),
          std::string("--lan-pairing-requires-hint=") + (pol.lan == LanPairing::address ? "false" : "true"),
          "--announce-interval=" + std::to_string(cal.announce_interval_s),
          std::string("--min-interval=") + kMinInterval,
          // Admission limits are per wall-clock second; simulated phones announce many simulated
          // minutes per wall second, so per-device limits and interval stretching stay out of the way.
          std::string("--rate-device=") + kUnlimitedRate, std::string("--rate-device-burst=") + kUnlimitedRate,
          "--adaptive-max-factor=1",
          // Grant acquisitions are limited per wall-clock second too.
          std::string("--origin-grant-rate=") + kUnlimitedRate, std::string("--origin-grant-burst=") + kUnlimitedRate};
}

std::string alto_map(const Scenario& s) {
  Json map = Json::object();
  for (size_t i = 0; i < s.isps.size(); ++i)
    map[s.isps[i].name + "." + s.isps[i].region] = {{"ipv4", Json::array({"127." + std::to_string(i + 1) + ".0.0/16"})}};
  Json doc = Json::object();
  doc["meta"] = {{"vtag", {{"resource-id", "sim-map"}, {"tag", "1"}}}};
  doc["network-map"] = map;
  return json_dump(doc);
}

std::string make_torrent(const Scenario& s, const std::string& announce_url, std::array<uint8_t, 20>& info_hash) {
  uint64_t pieces = (s.file_bytes + s.piece_bytes - 1) / s.piece_bytes;
  std::string hashes;
  hashes.reserve(pieces * 20);
  for (uint64_t i = 0; i < pieces; ++i) {
    auto h = crypto::sha1("otaswarm-sim piece " + std::to_string(i));
    hashes.append(reinterpret_cast<const char*>(h.data()), h.size());
  }
  bencode::Dict info;
  info["length"] = bencode::Value(static_cast<int64_t>(s.file_bytes));
  info["name"] = bencode::Value("ota-" + s.name + ".zip");
  info["piece length"] = bencode::Value(static_cast<int64_t>(s.piece_bytes));
  info["pieces"] = bencode::Value(hashes);
  info["private"] = bencode::Value(1);
  bencode::Value info_v(info);
  auto digest = crypto::sha1(bencode::encode(info_v));
  std::memcpy(info_hash.data(), digest.data(), info_hash.size());
  bencode::Dict t;
  t["announce"] = bencode::Value(announce_url);
  t["info"] = info_v;
  t["url-list"] = bencode::Value(bencode::List{bencode::Value(kWebseedUrl)});
  return bencode::encode(bencode::Value(t));
}

TrackerDirectory::TrackerDirectory(const Scenario& s, const Policy& pol, const Calibration& cal,
                                   const Population& pop, std::string tracker_binary, uint64_t seed)
    : pol_(pol),
      cal_(cal),
      tracker_(TrackerOptions{std::move(tracker_binary), tracker_flags(pol, cal, seed), alto_map(s)}),
      udp_(tracker_.udp_host(), tracker_.udp_port()) {
  std::string announce_url =
      "udp://" + tracker_.udp_host() + ":" + std::to_string(tracker_.udp_port()) + "/announce";
  tracker_.register_release(make_torrent(s, announce_url, info_hash_));
  std::string ih = crypto::hex(std::span<const uint8_t>(info_hash_.data(), info_hash_.size()));
  // Every release starts paced; a greedy policy says so, as an operator would for a comparison.
  tracker_.set_origin_policy(ih, pol.paced_origin ? (pol.origin_policy.empty() ? "{}" : pol.origin_policy)
                                                  : R"({"policy":"greedy"})");
  int64_t expiry = static_cast<int64_t>(std::time(nullptr)) + kCredentialLifetimeS;
  for (const auto& p : pop.phones) {
    std::string dev = device_id(p.id);
    std::string url = "/announce/" + token::mint(tracker_.token_key(), dev, expiry);
    std::string query;
    auto add = [&](const char* k, const std::string& v) { query += (query.empty() ? "?" : "&") + std::string(k) + "=" + v; };
    // A plain client sends none of these; LAN fields only from phones on a household LAN.
    if (pol.lan != LanPairing::off || pol.locality) {
      if (p.lan >= 0) add("localip", p.lan_ip);
    }
    if (pol.lan == LanPairing::hint && p.lan >= 0) {
      auto h = crypto::sha256("household-" + std::to_string(p.lan));
      add("lan", crypto::hex(std::span<const uint8_t>(h.data(), h.size())).substr(0, kHintHexChars));
    }
    if (pol.paced_origin) add("origin", "1");
    if (pol.nat_tickets) {
      nat::Ticket t;
      t.device_id = dev;
      t.cls = nat_class_of(p.kind);
      t.reflexive = p.public_ip + ":" + std::to_string(p.port);
      t.expiry = expiry;
      add("nat", nat::mint_ticket(tracker_.token_key(), t));
    }
    url_data_.push_back(url + query);
  }
  last_wall_.assign(pop.phones.size(), std::chrono::steady_clock::time_point{});
}

Directory::Reply TrackerDirectory::announce(const Phone& p, Event e, uint64_t downloaded, uint64_t uploaded,
                                            uint64_t left) {
  auto& last = last_wall_[p.id];
  if (e == Event::none) {
    auto due = last + kMinWallGap;
    if (std::chrono::steady_clock::now() < due) std::this_thread::sleep_until(due);
  }
  AnnounceParams a;
  a.info_hash = info_hash_;
  a.peer_id = peer_id(p.id);
  a.downloaded = downloaded;
  a.uploaded = uploaded;
  a.left = left;
  a.event = static_cast<uint32_t>(e);
  a.numwant = e == Event::stopped ? 0 : cal_.numwant;
  a.port = p.port;
  a.url_data = url_data_[p.id];
  a.origin = pol_.paced_origin;
  auto r = udp_.announce(p.public_ip, a);
  last = std::chrono::steady_clock::now();
  Reply out;
  out.ok = r.ok;
  out.interval = r.interval;
  out.error = std::move(r.error);
  out.peers = std::move(r.peers);
  if (r.has_origin) {
    out.has_origin = true;
    out.grant = r.origin.grant;
    out.rate = r.origin.rate;
    out.recheck_s = r.origin.recheck_s;
    out.starvation_delay_s = r.origin.starvation_delay_s;
    out.starvation_floor = r.origin.starvation_floor;
  }
  return out;
}

}  // namespace otaswarm::sim
