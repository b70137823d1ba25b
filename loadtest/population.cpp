#include "loadtest/population.h"

#include <algorithm>
#include <cstdio>

#include "common/token.h"

namespace otaswarm::loadtest {

const char* to_string(Event e) {
  switch (e) {
    case Event::none: return "none";
    case Event::completed: return "completed";
    case Event::started: return "started";
    case Event::stopped: return "stopped";
  }
  return "?";
}

Event Lifecycle::event_at(uint32_t n) const {
  if (n == 0) return Event::started;
  if (n <= periodic) return Event::none;
  if (n == periodic + 1) return Event::completed;
  if (send_stopped && n == periodic + 2) return Event::stopped;
  return Event::none;
}

uint64_t Population::usable_addresses(const net::Cidr& c) {
  unsigned bits = (c.network.is_v4() ? 32u : 128u) - c.prefix;
  if (bits == 0) return 1;
  if (bits >= 32) return uint64_t{1} << 32;
  uint64_t n = uint64_t{1} << bits;
  return n > 2 ? n - 2 : n;
}

Population::Population(PopulationConfig config)
    : config_(std::move(config)), counts_(config_.phones, 0), paths_(config_.phones) {
  config_.slots = std::max<uint32_t>(1, std::min(config_.slots, config_.phones));
  if (config_.source_cidr) {
    config_.slots = static_cast<uint32_t>(std::min<uint64_t>(config_.slots, usable_addresses(*config_.source_cidr)));
    distinct_addresses_ = config_.slots;
  }
}

std::optional<net::Address> Population::source_address(uint32_t slot) const {
  if (!config_.source_cidr) return std::nullopt;
  const net::Cidr& c = *config_.source_cidr;
  // Skip the network address itself unless the CIDR has fewer than four addresses.
  unsigned host_bits = (c.network.is_v4() ? 32u : 128u) - c.prefix;
  uint64_t offset = host_bits >= 2 ? uint64_t{slot} + 1 : slot;
  if (c.network.is_v4()) {
    uint32_t mask = c.prefix == 0 ? 0 : ~uint32_t{0} << (32 - c.prefix);
    uint32_t base = c.network.to_v4().to_uint() & mask;
    return net::Address(boost::asio::ip::address_v4(base + static_cast<uint32_t>(offset)));
  }
  auto bytes = c.network.to_v6().to_bytes();
  uint64_t carry = offset;
  for (int i = 15; i >= 0 && carry; --i) {
    uint64_t sum = bytes[i] + (carry & 0xff);
    bytes[i] = static_cast<uint8_t>(sum);
    carry = (carry >> 8) + (sum >> 8);
  }
  return net::Address(boost::asio::ip::address_v6(bytes));
}

const std::string& Population::path_of(uint32_t phone) {
  std::string& p = paths_[phone];
  if (!p.empty()) return p;
  if (config_.token_key.empty()) {
    p = config_.path_base;
  } else {
    char number[16];
    std::snprintf(number, sizeof number, "%08u", phone);
    p = config_.path_base + "/" + token::mint(config_.token_key, config_.device_prefix + number, config_.token_expiry);
  }
  return p;
}

Announce Population::next(uint32_t phone) {
  Announce a;
  const Lifecycle& life = config_.lifecycle;
  uint32_t n = counts_[phone];
  a.event = life.event_at(n);
  counts_[phone] = life.cycle() && n + 1 >= life.cycle() ? 0 : n + 1;

  const int64_t length = config_.torrent_length;
  if (n <= life.periodic) {
    a.downloaded = length * n / (life.periodic + 1);
    a.left = length - a.downloaded;
  } else {
    a.downloaded = length;
    a.left = 0;
  }
  a.uploaded = a.downloaded / 2;
  a.port = static_cast<uint16_t>(kFirstPeerPort + (phone / distinct_addresses_) % kPeerPortRange);
  a.key = phone;
  char id[21];
  std::snprintf(id, sizeof id, "-OS0001-%012x", phone);
  std::copy_n(id, 20, a.peer_id.begin());
  a.info_hash = &config_.info_hashes[phone % config_.info_hashes.size()];
  a.path = &path_of(phone);
  return a;
}

}  // namespace otaswarm::loadtest
