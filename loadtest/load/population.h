#pragma once
// The simulated phones: identity (peer id, device token), where they announce from (a slot =
// one source address, i.e. one NAT's public IP, shared by several phones with distinct ports),
// and the event sequence of each phone: started → periodic × N → completed → (stopped → again).
#include <array>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"
#include "common/proto/nat.h"
#include "common/net.h"

namespace otaswarm::loadtest {

enum class Event : uint8_t { none = 0, completed = 1, started = 2, stopped = 3 };  // BEP 15 codes
inline constexpr unsigned kEvents = 4;
const char* to_string(Event e);

inline constexpr uint16_t kFirstPeerPort = 10000;
inline constexpr uint32_t kPeerPortRange = 50000;
inline constexpr int64_t kDefaultTorrentLength = 1'000'000'000;  // an OTA image is ~1 GB

struct Lifecycle {
  uint32_t periodic = 2;     // periodic announces between started and completed
  bool send_stopped = false;  // after completed: stopped, then the phone starts over
  // Event of the n-th announce (0-based) of a phone's current cycle.
  Event event_at(uint32_t n) const;
  // Cycle length when phones start over, 0 when they stay seeders forever.
  uint32_t cycle() const { return send_stopped ? periodic + 3 : 0; }
};

inline constexpr uint32_t kMaxHouseholdPhones = 200;  // 192.168.1.10 … .209
inline constexpr size_t kNatClasses = std::size(nat::kClassicNames);

// Shares of the classic NAT classes ("public", "full-cone", …, in nat::kClassicNames order);
// parsed from "port-restricted=0.5,symmetric=0.2,…". Shares need not sum to 1.
using NatMix = std::array<double, kNatClasses>;
std::optional<NatMix> parse_nat_mix(std::string_view spec, std::string& error);

struct PopulationConfig {
  uint32_t phones = 10000;
  std::optional<net::Cidr> source_cidr;  // spread over these addresses; none: the OS picks
  uint32_t slots = 64;                   // source sockets / addresses in use
  std::vector<crypto::Sha1> info_hashes;
  int64_t torrent_length = kDefaultTorrentLength;
  Lifecycle lifecycle;
  std::string path_base;    // "/announce"
  std::string token_key;    // when set: one minted device token per phone in the path
  std::string device_prefix = "loadtest-";  // device ids are prefix + 8-digit phone number
  int64_t token_expiry = 0;  // unix seconds
  // A household: this many phones behind one home router, so on one slot (public address) with
  // distinct ports, on one LAN (192.168.1.10, .11, …) and with one NAT class.
  uint32_t household_phones = 1;
  bool lan_hints = false;    // phones send `localip` and `lan` (a hash naming the household)
  std::optional<NatMix> nat_mix;  // when set (needs token_key): phones send a signed `nat` ticket
  std::string nat_key;            // the tracker's NAT-ticket key (by default its token key)
};

struct Announce {
  Event event = Event::none;
  int64_t downloaded = 0, uploaded = 0, left = 0;
  uint16_t port = 0;
  uint32_t key = 0;
  std::array<uint8_t, 20> peer_id{};
  const crypto::Sha1* info_hash = nullptr;
  const std::string* path = nullptr;
};

// Each phone is only ever touched by one worker thread (phone % workers), so the per-phone
// state needs no lock.
class Population {
 public:
  explicit Population(PopulationConfig config);

  uint32_t size() const { return config_.phones; }
  uint32_t slots() const { return config_.slots; }
  uint32_t slot_of(uint32_t phone) const { return phone % config_.slots; }
  // Source address of a slot; nullopt: let the OS choose (no --source-ips).
  std::optional<net::Address> source_address(uint32_t slot) const;
  // Number of distinct addresses a CIDR offers to phones (network and broadcast skipped).
  static uint64_t usable_addresses(const net::Cidr& c);

  // The phone's next announce; advances its lifecycle.
  Announce next(uint32_t phone);
  // Path and the phone's LAN/NAT query ("/announce/<token>?localip=…&lan=…&nat=…").
  const std::string& path_of(uint32_t phone);
  uint64_t household_of(uint32_t phone) const;
  uint32_t households() const;
  // Index into nat::kClassicNames of the phone's NAT class; nullopt without a NAT mix.
  std::optional<size_t> nat_class_of(uint32_t phone) const;
  uint32_t announces_of(uint32_t phone) const { return counts_[phone]; }
  uint16_t port_of(uint32_t phone) const {
    return static_cast<uint16_t>(kFirstPeerPort + (phone / distinct_addresses_) % kPeerPortRange);
  }

 private:
  PopulationConfig config_;
  uint32_t distinct_addresses_ = 1;
  std::vector<uint32_t> counts_;
  std::vector<std::string> paths_;  // minted lazily: tokens for 1M phones would cost ~100 MB up front
};

}  // namespace otaswarm::loadtest
