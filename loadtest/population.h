#pragma once
// The simulated phones: identity (peer id, device token), where they announce from (a slot =
// one source address, i.e. one NAT's public IP, shared by several phones with distinct ports),
// and the event sequence of each phone: started → periodic × N → completed → (stopped → again).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto.h"
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
  const std::string& path_of(uint32_t phone);
  uint32_t announces_of(uint32_t phone) const { return counts_[phone]; }

 private:
  PopulationConfig config_;
  uint32_t distinct_addresses_ = 1;
  std::vector<uint32_t> counts_;
  std::vector<std::string> paths_;  // minted lazily: tokens for 1M phones would cost ~100 MB up front
};

}  // namespace otaswarm::loadtest
