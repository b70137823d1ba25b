#include "loadtest/load/population.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/crypto.h"
#include "common/proto/token.h"

namespace otaswarm::loadtest {

namespace {
constexpr uint32_t kFirstLanHost = 10;
constexpr size_t kLanHintBytes = 8;  // 16 hex characters
}  // namespace

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
  config_.household_phones = std::clamp<uint32_t>(config_.household_phones, 1, kMaxHouseholdPhones);
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

std::optional<NatMix> parse_nat_mix(std::string_view spec, std::string& error) {
  NatMix mix{};
  double total = 0;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    size_t eq = item.find('=');
    const auto* name = std::find(std::begin(nat::kClassicNames), std::end(nat::kClassicNames), item.substr(0, eq));
    if (eq == std::string_view::npos || name == std::end(nat::kClassicNames)) {
      error = std::string(item) + ": expected CLASS=SHARE, CLASS one of public, full-cone, restricted, "
                                  "port-restricted, symmetric";
      return std::nullopt;
    }
    std::string num(item.substr(eq + 1));
    char* end = nullptr;
    double share = std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !(share >= 0) || share > 1e6) {
      error = std::string(item) + ": the share is not a non-negative number";
      return std::nullopt;
    }
    mix[static_cast<size_t>(name - std::begin(nat::kClassicNames))] += share;
    total += share;
  }
  if (!(total > 0)) {
    error = "no class has a share above 0";
    return std::nullopt;
  }
  for (double& m : mix) m /= total;
  return mix;
}

uint64_t Population::household_of(uint32_t phone) const {
  // Phones on one slot are phone, phone + slots, …; runs of household_phones of them form a home.
  uint32_t within_slot = phone / config_.slots;
  return uint64_t{within_slot / config_.household_phones} * config_.slots + slot_of(phone);
}

uint32_t Population::households() const {
  uint32_t n = 0;
  for (uint32_t slot = 0; slot < config_.slots && slot < config_.phones; ++slot) {
    uint32_t on_slot = (config_.phones - slot + config_.slots - 1) / config_.slots;
    n += (on_slot + config_.household_phones - 1) / config_.household_phones;
  }
  return n;
}

std::optional<size_t> Population::nat_class_of(uint32_t phone) const {
  if (!config_.nat_mix) return std::nullopt;
  // One fixed draw per household (splitmix64 finaliser), so the mix holds over households.
  uint64_t z = household_of(phone) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  double u = static_cast<double>(z >> 11) * 0x1.0p-53;
  double acc = 0;
  size_t last = 0;
  for (size_t i = 0; i < kNatClasses; ++i) {
    if ((*config_.nat_mix)[i] <= 0) continue;
    last = i;
    acc += (*config_.nat_mix)[i];
    if (u < acc) return i;
  }
  return last;
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
  char sep = p.find('?') == std::string::npos ? '?' : '&';
  auto add = [&](const char* key, const std::string& value) {
    p += sep;
    p += key;
    p += '=';
    p += value;
    sep = '&';
  };
  uint64_t home = household_of(phone);
  if (config_.lan_hints) {
    uint32_t member = (phone / config_.slots) % config_.household_phones;
    add("localip", "192.168.1." + std::to_string(kFirstLanHost + member));
    auto h = crypto::sha256("loadtest-household-" + std::to_string(home));
    add("lan", crypto::hex(std::span<const uint8_t>(h.data(), kLanHintBytes)));
  }
  if (auto cls = nat_class_of(phone); cls && !config_.token_key.empty()) {
    char number[16];
    std::snprintf(number, sizeof number, "%08u", phone);
    nat::Ticket t;
    t.device_id = config_.device_prefix + number;
    t.cls = *nat::classic_class(nat::kClassicNames[*cls]);
    if (auto src = source_address(slot_of(phone))) t.reflexive = net::format(*src, port_of(phone));
    t.expiry = config_.token_expiry;
    add("nat", nat::mint_ticket(config_.nat_key.empty() ? config_.token_key : config_.nat_key, t));
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
  a.port = port_of(phone);
  a.key = phone;
  char id[21];
  std::snprintf(id, sizeof id, "-OS0001-%012x", phone);
  std::copy_n(id, 20, a.peer_id.begin());
  a.info_hash = &config_.info_hashes[phone % config_.info_hashes.size()];
  a.path = &path_of(phone);
  return a;
}

}  // namespace otaswarm::loadtest
