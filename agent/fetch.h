#pragma once
// `otaswarm-agent fetch`: one release for one device through libtorrent — private torrent, web
// seed as the permanent source, device token in every announce URL, bytes counted by path,
// resume data in the state dir, the file moved to its final path only once every piece passed
// its hash check. Failures end with an error line, never a hang (the stall limit).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "agent/lan_hint.h"
#include "common/net.h"

namespace otaswarm::agent {

inline constexpr std::chrono::seconds kDefaultStallTimeout{300};
inline constexpr std::chrono::milliseconds kProgressInterval{500};  // the contract asks for ≥ 1 line/s
inline constexpr std::chrono::seconds kResumeSaveInterval{5};
inline constexpr std::chrono::seconds kResumeSaveTimeout{10};      // waiting for the last save on exit
inline constexpr int kProgressBarWidth = 30;
inline constexpr size_t kMaxReasons = 8;  // distinct failure reasons kept for the stall message

struct FetchOptions {
  std::string torrent_path;
  std::string token;
  std::string out_dir;
  std::vector<std::string> announce;  // replaces the torrent's trackers when non-empty
  std::vector<std::string> webseeds;  // replaces the torrent's web seeds when non-empty
  std::string listen = "0.0.0.0:0";
  std::string lan_hint = "auto";      // auto | off | the hint itself
  LanSources lan_sources;
  std::string state_dir;              // empty: <out_dir>/.otaswarm-<info-hash>
  std::chrono::seconds seed_time{0};
  std::chrono::seconds stall_timeout = kDefaultStallTimeout;
  bool json = true;                   // JSON lines; false: a progress bar
  std::optional<net::HostPort> rendezvous;  // STUN primary: NAT traversal (agent/nat_session.h)
  std::string rendezvous_api;               // device API: TURN credentials for relay decisions
};

// Runs until done, failed or `stop` is set (then "interrupted"); writes the contract's lines to
// `out`, logs to stderr. Returns the exit code (0 done and verified, 1 failed).
int run_fetch(const FetchOptions& options, std::ostream& out, const std::atomic<bool>& stop);

}  // namespace otaswarm::agent
