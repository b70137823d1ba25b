#include "tracker/alto.h"
#include "common/json.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace otaswarm::alto {

namespace {
constexpr size_t kMaxMapBytes = 64u << 20;
constexpr size_t kMaxPidLength = 64;  // RFC 7285 §10.1: PID names are at most 64 characters

std::string masked(const net::Address& a, unsigned len) {
  std::string bytes;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    bytes.assign(b.begin(), b.end());
  } else {
    auto b = a.to_v6().to_bytes();
    bytes.assign(b.begin(), b.end());
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit >= len) bytes[i] = 0;
    else if (len - bit < 8) bytes[i] = static_cast<char>(bytes[i] & static_cast<char>(0xff << (8 - (len - bit))));
  }
  return bytes;
}

bool valid_pid(std::string_view s) {
  if (s.empty() || s.size() > kMaxPidLength) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' || c == '@' || c == '_'))
      return false;
  return true;
}
}  // namespace

std::optional<NetworkMap> NetworkMap::parse(std::string_view text, std::string& error) {
  if (text.size() > kMaxMapBytes) {
    error = "network map larger than 64 MiB";
    return std::nullopt;
  }
  std::string why;
  auto parsed = json_parse(text, why);
  if (!parsed) {
    error = "not valid JSON: " + why;
    return std::nullopt;
  }
  const Json& root = *parsed;
  if (!root.is_object()) {
    error = "top level must be a JSON object";
    return std::nullopt;
  }
  auto nm = root.find("network-map");
  if (nm == root.end() || !nm->is_object()) {
    error = "missing \"network-map\" object";
    return std::nullopt;
  }
  NetworkMap m;
  if (auto meta = root.find("meta"); meta != root.end() && meta->is_object())
    if (auto vt = meta->find("vtag"); vt != meta->end() && vt->is_object())
      if (auto tag = vt->find("tag"); tag != vt->end() && tag->is_string()) m.vtag_ = tag->get<std::string>();
  std::map<unsigned, Level> v4, v6;
  for (const auto& [pid_key, entry] : nm->items()) {
    std::string pid(pid_key);
    if (!valid_pid(pid)) {
      error = "invalid PID name \"" + pid + "\"";
      return std::nullopt;
    }
    if (!entry.is_object()) {
      error = "PID \"" + pid + "\" must map to an object";
      return std::nullopt;
    }
    uint32_t idx = static_cast<uint32_t>(m.pids_.size());
    m.pids_.push_back(pid);
    for (const auto& [family, list] : entry.items()) {
      if (family != "ipv4" && family != "ipv6") {
        error = "PID \"" + pid + "\": unknown address type \"" + std::string(family) + "\"";
        return std::nullopt;
      }
      if (!list.is_array()) {
        error = "PID \"" + pid + "\": \"" + std::string(family) + "\" must be an array";
        return std::nullopt;
      }
      for (const auto& c : list) {
        if (!c.is_string()) {
          error = "PID \"" + pid + "\": prefixes must be strings";
          return std::nullopt;
        }
        auto cidr = net::parse_cidr(c.get<std::string>());
        if (!cidr || cidr->network.is_v4() != (family == "ipv4")) {
          error = "PID \"" + pid + "\": bad " + std::string(family) + " prefix \"" + c.get<std::string>() + "\"";
          return std::nullopt;
        }
        auto& levels = cidr->network.is_v4() ? v4 : v6;
        auto& lvl = levels[cidr->prefix];
        lvl.length = cidr->prefix;
        auto [it, inserted] = lvl.entries.emplace(masked(cidr->network, cidr->prefix), idx);
        if (!inserted && it->second != idx) {
          error = "prefix " + c.get<std::string>() + " is in two PIDs";
          return std::nullopt;
        }
        m.prefixes_++;
      }
    }
  }
  for (auto it = v4.rbegin(); it != v4.rend(); ++it) m.v4_.push_back(std::move(it->second));
  for (auto it = v6.rbegin(); it != v6.rend(); ++it) m.v6_.push_back(std::move(it->second));
  return m;
}

std::optional<NetworkMap> NetworkMap::load_file(const std::string& path, std::string& error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = "cannot read \"" + path + "\"";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), error);
}

const std::string* NetworkMap::lookup(const net::Address& raw) const {
  auto a = net::unmap(raw);
  const auto& levels = a.is_v4() ? v4_ : v6_;
  for (const auto& lvl : levels) {
    auto it = lvl.entries.find(masked(a, lvl.length));
    if (it != lvl.entries.end()) return &pids_[it->second];
  }
  return nullptr;
}

}  // namespace otaswarm::alto
