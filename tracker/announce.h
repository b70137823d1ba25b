#pragma once
// Announce and scrape: protocol-independent requests, the handler (a function of request
// + store + registry), and the HTTP (bencode) encodings. Front ends only move bytes.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/net.h"
#include "common/proto/bep15.h"
#include "tracker/store/swarm_store.h"
#include "common/proto/token.h"
#include "tracker/admission.h"
#include "tracker/locality.h"
#include "tracker/origin_planner.h"
#include "tracker/release_registry.h"
#include "tracker/tracker_metrics.h"

namespace otaswarm {

using net::Protocol;

struct AnnounceRequest {
  Protocol protocol = Protocol::http;
  std::string token;  // device token from the URL path (empty in --open mode)
  store::InfoHash info_hash{};
  store::PeerId peer_id{};
  uint16_t port = 0;
  uint64_t uploaded = 0, downloaded = 0, left = 0;
  store::Event event = store::Event::none;
  int32_t numwant = -1;  // -1 = default
  bool compact = true;
  bool no_peer_id = false;
  net::Address source;                  // transport source address
  std::optional<std::string> ip_param;  // BEP 3 `ip` (or BEP 15 ip field)
  std::optional<std::string> ipv4_param, ipv6_param;
  std::optional<std::string> forwarded_for;  // X-Forwarded-For (HTTP behind a proxy)
  std::optional<std::string> localip, lan, icode, nat;
  bool origin = false;  // `origin=1`: the client follows origin advice (UDP: only then the reply has the trailer)
};

struct ScrapeRequest {
  Protocol protocol = Protocol::http;
  std::string token;
  std::vector<store::InfoHash> info_hashes;
  net::Address source;
};

enum class Reject : uint8_t {
  none = 0,
  malformed_token,
  bad_signature,
  expired_token,
  unknown_info_hash,
  bad_request,
  bad_connection_id,
  store_unavailable,
  overloaded,
  rate_limited,
};
const char* to_string(Reject r);

struct AnnounceResponse {
  Reject reject = Reject::none;
  std::string failure;  // non-empty: BEP 3 failure reason
  std::string warning;
  uint32_t retry_in_s = 0;  // with a failure: when to come back (BEP 31)
  bool too_soon = false;
  uint32_t interval = 0, min_interval = 0;
  uint32_t complete = 0, incomplete = 0;
  uint64_t downloaded = 0;
  std::vector<store::SelectedPeer> peers;
  std::optional<OriginAdvice> origin;  // origin pacing advice (docs/origin-pacing.md)
};

struct ScrapeEntry {
  store::InfoHash info_hash{};
  bool known = true;  // false: not a registered release (HTTP omits it, UDP answers zeros)
  uint32_t complete = 0, incomplete = 0;
  uint64_t downloaded = 0;
};

struct ScrapeResponse {
  Reject reject = Reject::none;
  std::string failure;
  std::vector<ScrapeEntry> files;
};

struct TrackerPolicy {
  bool open = false;  // public demo mode: any info_hash, no token
  uint32_t interval = 1800;
  uint32_t min_interval = 900;
  double interval_jitter = 0.1;  // ± fraction, per device
  uint32_t numwant_default = 50;
  uint32_t numwant_max = 200;
  uint32_t outside_isp = 2;
  bool locality = true;
  bool reachability = true;
  net::CidrSet trusted_proxies;
};

// Verifies the `nat` ticket of a device; sets reach/bucket on success.
using NatTicketVerifier =
    std::function<bool(std::string_view ticket, const std::string& device, store::Reach&, store::NatBucket&)>;

struct TrackerContext {
  TrackerPolicy policy;
  token::KeyRing token_keys;
  const Clock* clock = &SystemClock::instance();
  ReleaseRegistry* registry = nullptr;
  store::SwarmStore* store = nullptr;
  const LocalityResolver* locality = nullptr;
  NatTicketVerifier nat_verifier;
  TrackerMetrics* metrics = nullptr;
  AdmissionController* admission = nullptr;
  OriginPlanner* origin = nullptr;  // null: no origin advice
};

class AnnounceHandler {
 public:
  explicit AnnounceHandler(TrackerContext ctx) : ctx_(std::move(ctx)) {}
  using AnnounceDone = std::function<void(AnnounceResponse&&)>;
  using ScrapeDone = std::function<void(ScrapeResponse&&)>;

  // Calls done exactly once (synchronously for the memory store).
  void announce(const AnnounceRequest& req, AnnounceDone done) const;
  void scrape(const ScrapeRequest& req, ScrapeDone done) const;

  const TrackerContext& context() const { return ctx_; }
  // Per-device jittered interval, so a crowd's re-announces do not synchronise.
  uint32_t interval_for(std::string_view device) const;

 private:
  Reject check_token(std::string_view token, std::string& device, std::string& why) const;
  // Token, registration and admission: Reject::none and the device id, or why not (+ retry hint).
  Reject authorize(const AnnounceRequest& req, std::string& device, std::string& why, uint32_t& retry_in_s) const;
  // The announcing peer as the store keeps it: public and LAN address, locality, NAT class.
  void describe_peer(const AnnounceRequest& req, store::PeerData& p) const;
  // numwant, selection switches and address family of the reply.
  void selection_policy(const AnnounceRequest& req, store::AnnounceOp& op) const;
  // What the origin planner needs from this announce (no planner: nothing to ask); lets an
  // announce that asked (origin=1) re-announce every recheck period.
  struct OriginAsk {
    OriginPlanner* planner = nullptr;
    std::optional<OriginPolicy> policy;
    store::InfoHash info_hash{};
    std::string device;
    store::Event event = store::Event::none;
    uint64_t left = 0;
    store::Reach reach = store::Reach::unknown;
    uint64_t lan = 0;
  };
  OriginAsk origin_ask(const AnnounceRequest& req, store::AnnounceOp& op) const;
  // Adds the planner's advice to a successful reply (not to a failure or a "too soon").
  static AnnounceResponse advise(AnnounceResponse&& res, const OriginAsk& ask);
  // Everything after the completion is set up; an unknown info_hash is read through to the
  // registry's backend once (may_read_through) before it is refused.
  template <typename Finish>
  void run_announce(const AnnounceRequest& req, Finish finish, bool may_read_through) const;
  TrackerContext ctx_;
};

// HTTP query → request. Returns an error message on malformed input.
std::optional<std::string> parse_announce_query(std::string_view query, AnnounceRequest& out);
std::optional<std::string> parse_scrape_query(std::string_view query, ScrapeRequest& out);

// Extracts the device token from "/announce/<t>", "/<t>/announce" (same for scrape).
// Returns false if the path is not an announce (or scrape) path.
bool token_from_path(std::string_view path, std::string_view verb, std::string& token);

// BEP 15 announce + BEP 41 URL data ("/announce/<token>?lan=…&localip=…&nat=…") → request.
// Reject::none, or the reason to count with `error` the message of the BEP 15 error reply.
Reject request_from_bep15(const udp::AnnounceRequest& a, const net::Address& source, AnnounceRequest& out,
                          std::string_view& error);
// The BEP 15 announce reply: the header, then the peers of the requester's address family, then
// the origin trailer when the reply has advice (only requests with origin=1 get advice over UDP).
std::string encode_bep15_announce(uint32_t transaction_id, bool v6, const AnnounceResponse& res);

// The HTTP reply; with origin advice it carries the extra key kOriginAdviceKey, which plain
// clients ignore (BEP 3 readers skip unknown keys).
inline constexpr std::string_view kOriginAdviceKey = "x-otaswarm-origin";
std::string encode_announce(const AnnounceRequest& req, const AnnounceResponse& res);
// Reads the advice back from an HTTP announce reply (the agent's side); nullopt when absent or malformed.
std::optional<OriginAdvice> decode_origin_advice(std::string_view http_reply);
std::string encode_scrape(const ScrapeResponse& res);
// retry_in_minutes follows BEP 31 ("retry in" is in minutes).
std::string encode_failure(std::string_view reason, std::optional<uint32_t> retry_in_minutes = std::nullopt);

}  // namespace otaswarm
