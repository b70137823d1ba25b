#pragma once
// IETF ALTO network map (RFC 7285 §11.2.1): PIDs → lists of IPv4/IPv6 CIDRs, with
// longest-prefix-match lookup. otaswarm reads a PID name "<isp>.<region>" as ISP and
// region ("<isp>" alone: region unknown), see docs/locality.md.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/net.h"

namespace otaswarm::alto {

struct ParseResult;

class NetworkMap {
 public:
  // Parses the JSON text of a network map; nullopt + error on any malformed part.
  static std::optional<NetworkMap> parse(std::string_view json_text, std::string& error);
  static std::optional<NetworkMap> load_file(const std::string& path, std::string& error);

  // PID of the longest prefix containing `a`, or nullptr.
  const std::string* lookup(const net::Address& a) const;
  size_t pid_count() const { return pids_.size(); }
  size_t prefix_count() const { return prefixes_; }
  const std::string& vtag() const { return vtag_; }

 private:
  std::vector<std::string> pids_;
  // Per prefix length, masked address bytes → PID index; lengths sorted longest first.
  struct Level {
    unsigned length;
    std::unordered_map<std::string, uint32_t> entries;
  };
  std::vector<Level> v4_, v6_;
  size_t prefixes_ = 0;
  std::string vtag_;
};

}  // namespace otaswarm::alto
