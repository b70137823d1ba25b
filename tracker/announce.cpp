#include "tracker/announce.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/percent.h"
#include "common/proto/bencode.h"
#include "common/crypto.h"

namespace otaswarm {

namespace {
constexpr size_t kMaxQueryParams = 64;
constexpr size_t kMaxScrapeHashes = 74;
constexpr size_t kMaxParamLength = 512;
constexpr size_t kMaxFullScrape = 1000;
}  // namespace


const char* to_string(Reject r) {
  switch (r) {
    case Reject::none: return "none";
    case Reject::malformed_token: return "malformed_token";
    case Reject::bad_signature: return "bad_signature";
    case Reject::expired_token: return "expired_token";
    case Reject::unknown_info_hash: return "unknown_info_hash";
    case Reject::bad_request: return "bad_request";
    case Reject::bad_connection_id: return "bad_connection_id";
    case Reject::store_unavailable: return "store_unavailable";
    case Reject::overloaded: return "overloaded";
    case Reject::rate_limited: return "rate_limited";
  }
  return "other";
}

namespace {

template <typename F>
std::optional<std::string> for_each_param(std::string_view q, F&& f) {
  size_t count = 0;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (kv.empty()) continue;
    if (++count > kMaxQueryParams) return "too many query parameters";
    size_t eq = kv.find('=');
    std::string_view k = kv.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : kv.substr(eq + 1);
    if (v.size() > kMaxParamLength) return "query parameter too long: " + std::string(k);
    auto dv = percent::decode(v, percent::Plus::space);
    if (!dv) return "bad percent-encoding in " + std::string(k);
    if (auto err = f(k, std::move(*dv))) return err;
  }
  return std::nullopt;
}

template <typename T>
bool parse_uint(const std::string& s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool to_hash(const std::string& v, std::array<uint8_t, 20>& out) {
  if (v.size() != 20) return false;
  std::memcpy(out.data(), v.data(), 20);
  return true;
}

store::Ip to_ip(const net::Address& raw) {
  store::Ip ip;
  auto a = net::unmap(raw);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::memcpy(ip.b.data(), b.data(), 4);
  } else {
    auto b = a.to_v6().to_bytes();
    std::memcpy(ip.b.data(), b.data(), 16);
    ip.v6 = true;
  }
  return ip;
}

}  // namespace

std::optional<std::string> parse_announce_query(std::string_view query, AnnounceRequest& r) {
  bool have_hash = false, have_peer = false, have_port = false, have_left = false;
  auto err = for_each_param(query, [&](std::string_view k, std::string v) -> std::optional<std::string> {
    if (k == "info_hash") {
      if (!to_hash(v, r.info_hash)) return "info_hash must be 20 bytes";
      have_hash = true;
    } else if (k == "peer_id") {
      if (!to_hash(v, r.peer_id)) return "peer_id must be 20 bytes";
      have_peer = true;
    } else if (k == "port") {
      if (!parse_uint(v, r.port)) return "port must be 0..65535";
      have_port = true;
    } else if (k == "uploaded") {
      if (!parse_uint(v, r.uploaded)) return "uploaded must be a non-negative integer";
    } else if (k == "downloaded") {
      if (!parse_uint(v, r.downloaded)) return "downloaded must be a non-negative integer";
    } else if (k == "left") {
      if (!parse_uint(v, r.left)) return "left must be a non-negative integer";
      have_left = true;
    } else if (k == "event") {
      if (v == "started") r.event = store::Event::started;
      else if (v == "completed") r.event = store::Event::completed;
      else if (v == "stopped") r.event = store::Event::stopped;
      else if (v == "paused") r.event = store::Event::paused;
      else if (v.empty() || v == "empty") r.event = store::Event::none;
      else return "unknown event";
    } else if (k == "numwant" || k == "num_want") {
      uint32_t n = 0;
      if (!parse_uint(v, n)) return "numwant must be a non-negative integer";
      r.numwant = static_cast<int32_t>(std::min<uint32_t>(n, 1u << 20));
    } else if (k == "compact") {
      r.compact = v != "0";
    } else if (k == "no_peer_id") {
      r.no_peer_id = v == "1";
    } else if (k == "ip") {
      r.ip_param = std::move(v);
    } else if (k == "ipv4") {
      r.ipv4_param = std::move(v);
    } else if (k == "ipv6") {
      r.ipv6_param = std::move(v);
    } else if (k == "localip") {
      r.localip = std::move(v);
    } else if (k == "lan") {
      r.lan = std::move(v);
    } else if (k == "icode") {
      r.icode = std::move(v);
    } else if (k == "nat") {
      r.nat = std::move(v);
    } else if (k == "origin") {
      r.origin = v == "1";
    }
    return std::nullopt;
  });
  if (err) return err;
  if (!have_hash) return "missing info_hash";
  if (!have_peer) return "missing peer_id";
  if (!have_port) return "missing port";
  if (!have_left) return "missing left";
  if (r.port == 0 && r.event != store::Event::stopped) return "port must not be 0";
  return std::nullopt;
}

std::optional<std::string> parse_scrape_query(std::string_view query, ScrapeRequest& r) {
  return for_each_param(query, [&](std::string_view k, std::string v) -> std::optional<std::string> {
    if (k == "info_hash") {
      store::InfoHash h;
      if (!to_hash(v, h)) return "info_hash must be 20 bytes";
      if (r.info_hashes.size() >= kMaxScrapeHashes) return "too many info_hash values";
      r.info_hashes.push_back(h);
    }
    return std::nullopt;
  });
}

bool token_from_path(std::string_view path, std::string_view verb, std::string& token) {
  // "/announce", "/announce/<t>", "/<t>/announce"
  std::string want = "/" + std::string(verb);
  if (path == want) {
    token.clear();
    return true;
  }
  if (path.substr(0, want.size() + 1) == want + "/") {
    token.assign(path.substr(want.size() + 1));
    return token.find('/') == std::string::npos;
  }
  if (path.size() > want.size() + 1 && path.substr(path.size() - want.size()) == want && path[0] == '/') {
    token.assign(path.substr(1, path.size() - want.size() - 1));
    return token.find('/') == std::string::npos;
  }
  return false;
}

uint32_t AnnounceHandler::interval_for(std::string_view device) const {
  const auto& p = ctx_.policy;
  if (p.interval_jitter <= 0)
    return static_cast<uint32_t>(p.interval * (ctx_.admission ? ctx_.admission->interval_factor() : 1.0));
  // Jitter only needs spread, not secrecy: a cheap hash of the device id.
  // splitmix64 finaliser: ids that differ in one character (serial numbers) must spread too.
  uint64_t z = rate_key(device);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  uint32_t r = static_cast<uint32_t>((z ^ (z >> 31)) >> 32);
  double frac = (static_cast<double>(r) / 4294967295.0) * 2.0 - 1.0;  // [-1, 1]
  double factor = ctx_.admission ? ctx_.admission->interval_factor() : 1.0;
  double v = p.interval * factor * (1.0 + frac * p.interval_jitter);
  return std::max<uint32_t>(p.min_interval, static_cast<uint32_t>(v));
}

Reject AnnounceHandler::check_token(std::string_view tok, std::string& device, std::string& why) const {
  auto v = token::verify(ctx_.token_keys, tok, *ctx_.clock);
  switch (v.status) {
    case token::Status::ok:
      device = std::move(v.device_id);
      return Reject::none;
    case token::Status::expired:
      why = "device token expired";
      return Reject::expired_token;
    case token::Status::bad_signature:
      why = "device token signature invalid";
      return Reject::bad_signature;
    default:
      why = token::to_string(v.status);
      return Reject::malformed_token;
  }
}

namespace {
// Metrics of one answered announce: result, reject reason, peers by tier and pairing, latency.
void count_announce(TrackerMetrics& m, Protocol proto, store::Event ev, const AnnounceResponse& res, double latency) {
  using R = TrackerMetrics::AnnounceResult;
  R result = res.reject == Reject::rate_limited ? R::rate_limited
             : !res.failure.empty()             ? R::error
             : res.too_soon                     ? R::too_soon
                                                : R::ok;
  m.announce_counter(proto, ev, result).inc();
  if (res.reject != Reject::none) m.reject_counter(res.reject).inc();
  // Summed here first: one atomic add per tier and pairing, not two per handed-out peer.
  std::array<uint32_t, store::kTierCount> tiers{};
  std::array<uint32_t, store::kPairingCount> pairings{};
  for (const auto& p : res.peers) {
    ++tiers[static_cast<size_t>(p.tier)];
    ++pairings[static_cast<size_t>(p.pairing)];
  }
  for (size_t t = 0; t < tiers.size(); ++t)
    if (tiers[t]) m.tier[t]->inc(tiers[t]);
  for (size_t p = 0; p < pairings.size(); ++p)
    if (pairings[p]) m.pairing[p]->inc(pairings[p]);
  m.latency(proto, TrackerMetrics::Action::announce).observe(latency);
}

// The store's answer as the announce reply (a store failure becomes a retry-later failure).
AnnounceResponse reply_from_store(store::Status st, store::AnnounceResult&& r, uint32_t interval, uint32_t min_interval) {
  AnnounceResponse res;
  if (st != store::Status::ok) {
    res.reject = st == store::Status::limit ? Reject::overloaded : Reject::store_unavailable;
    res.failure = st == store::Status::limit ? "tracker swarm limit reached, retry later"
                                             : "tracker storage unavailable, retry later";
    return res;
  }
  res.interval = r.interval_hint ? std::min(interval, r.interval_hint) : interval;
  res.min_interval = std::min(min_interval, res.interval);
  res.too_soon = r.too_soon;
  res.complete = r.seeders;
  res.incomplete = r.leechers;
  res.downloaded = r.completed;
  res.peers = std::move(r.peers);
  return res;
}
}  // namespace

Reject AnnounceHandler::authorize(const AnnounceRequest& req, std::string& device, std::string& why,
                                  uint32_t& retry_in_s) const {
  if (!ctx_.policy.open || !req.token.empty()) {
    if (req.token.empty()) {
      why = "missing device token in announce URL";
      return Reject::malformed_token;
    }
    Reject r = check_token(req.token, device, why);
    if (r != Reject::none) return r;
  } else {
    device = "peer:" + crypto::hex(req.peer_id);
  }
  if (!ctx_.policy.open && !(ctx_.registry && ctx_.registry->contains(req.info_hash))) {
    why = "unregistered info_hash: this tracker only tracks registered releases";
    return Reject::unknown_info_hash;
  }
  if (ctx_.admission) {
    TrackerMetrics* m = ctx_.metrics;
    auto a = ctx_.admission->admit(rate_key(device), net::address_key(req.source), req.info_hash, req.event);
    if (m) m->admission_counter(a.decision).inc();
    if (m && a.decision == Admission::shed) m->shed_ctr[TrackerMetrics::kShedPeriodicBudget]->inc();
    if (a.decision != Admission::admitted) {
      retry_in_s = a.retry_in_s;
      why = std::string(a.decision == Admission::shed ? "tracker busy" : "rate limited") + ": retry in " +
            std::to_string(a.retry_in_s) + " s";
      return Reject::rate_limited;
    }
  }
  return Reject::none;
}

void AnnounceHandler::describe_peer(const AnnounceRequest& req, store::PeerData& p) const {
  p.peer_id = req.peer_id;
  p.port = req.port;
  p.uploaded = req.uploaded;
  p.downloaded = req.downloaded;
  p.left = req.left;

  // The transport address is the truth, unless a configured proxy vouches for another one.
  net::Address public_ip = net::unmap(req.source);
  if (ctx_.policy.trusted_proxies.contains(public_ip)) {
    std::optional<net::Address> claimed;
    if (req.forwarded_for) {
      std::string_view ff = *req.forwarded_for;
      ff = ff.substr(0, ff.find(','));
      while (!ff.empty() && ff.front() == ' ') ff.remove_prefix(1);
      while (!ff.empty() && ff.back() == ' ') ff.remove_suffix(1);
      claimed = net::parse_address(ff);
    }
    if (!claimed && req.ip_param) claimed = net::parse_address(*req.ip_param);
    if (claimed && !net::is_unspecified_or_multicast(*claimed)) public_ip = net::unmap(*claimed);
  }
  p.ip = to_ip(public_ip);

  // LAN address: `localip`, or BEP 3 `ip` when it holds a private address; never a public one.
  std::optional<std::string> lan_text = req.localip ? req.localip : req.ip_param;
  if (lan_text) {
    if (auto a = net::parse_address(*lan_text); a && net::is_private(*a) && !net::unmap(*a).is_loopback() &&
                                               !net::is_unspecified_or_multicast(*a)) {
      p.has_lan = true;
      p.lan_ip = to_ip(*a);
      p.lan_port = req.port;
    }
  }
  if (ctx_.locality) p.loc = ctx_.locality->resolve(public_ip, req.lan.value_or(""), req.icode.value_or(""));
  if (!p.has_lan) p.loc.lan = 0;  // LAN pairing needs a LAN address to hand out
  if (req.nat && ctx_.nat_verifier) ctx_.nat_verifier(*req.nat, p.device, p.reach, p.nat);
}

void AnnounceHandler::selection_policy(const AnnounceRequest& req, store::AnnounceOp& op) const {
  const auto& pol = ctx_.policy;
  uint32_t want = req.numwant < 0 ? pol.numwant_default : static_cast<uint32_t>(req.numwant);
  op.policy.numwant = req.event == store::Event::stopped ? 0 : std::min(want, pol.numwant_max);
  op.policy.outside_isp = pol.outside_isp;
  op.policy.locality = pol.locality;
  op.policy.reachability = pol.reachability;
  if (req.protocol == Protocol::udp) {
    op.policy.want_v4 = !req.source.is_v6() || net::unmap(req.source).is_v4();
    op.policy.want_v6 = !op.policy.want_v4;
  }
}

void AnnounceHandler::announce(const AnnounceRequest& req, AnnounceDone done) const {
  auto t0 = std::chrono::steady_clock::now();
  auto finish = [m = ctx_.metrics, adm = ctx_.admission, proto = req.protocol, ev = req.event, t0,
                 done = std::move(done)](AnnounceResponse&& res) {
    double latency = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (adm) adm->record(latency);
    if (m) count_announce(*m, proto, ev, res, latency);
    done(std::move(res));
  };
  run_announce(req, std::move(finish), true);
}

template <typename Finish>
void AnnounceHandler::run_announce(const AnnounceRequest& req, Finish finish, bool may_read_through) const {
  store::AnnounceOp op;
  op.info_hash = req.info_hash;
  op.event = req.event;
  {
    AnnounceResponse refused;
    std::string why;
    refused.reject = authorize(req, op.peer.device, why, refused.retry_in_s);
    if (refused.reject == Reject::unknown_info_hash && may_read_through && ctx_.registry) {
      // Not cached here: maybe registered through another replica a moment ago. The registry
      // asks its backend (asynchronously; a short negative cache keeps floods cheap) and the
      // announce starts over from its answer, on whichever thread that arrives (the front
      // ends hop back to their own).
      auto pending = std::make_shared<AnnounceRequest>(req);
      auto cont = std::make_shared<Finish>(std::move(finish));
      auto unknown = [cont, why] {
        AnnounceResponse r;
        r.reject = Reject::unknown_info_hash;
        r.failure = why;
        (*cont)(std::move(r));
      };
      if (!ctx_.registry->lookup_async(req.info_hash, [this, pending, cont, unknown](bool known) {
            if (!known) return unknown();
            run_announce(*pending, std::move(*cont), false);
          }))
        unknown();
      return;
    }
    if (refused.reject != Reject::none) {
      refused.failure = std::move(why);
      return finish(std::move(refused));
    }
  }
  describe_peer(req, op.peer);
  selection_policy(req, op);

  uint32_t interval = interval_for(op.peer.device);
  uint32_t min_interval = std::min(ctx_.policy.min_interval, interval);
  // A cheap reply for early periodic re-announces; a little slack absorbs client timer jitter.
  op.min_interval_ms = static_cast<int64_t>(ctx_.policy.min_interval) * 1000 * 9 / 10;
  OriginAsk ask = origin_ask(req, op);
  // The in-memory store answers on the spot: no continuation to allocate.
  store::Status st = store::Status::ok;
  store::AnnounceResult result;
  if (ctx_.store->announce_now(op, st, result))
    return finish(advise(reply_from_store(st, std::move(result), interval, min_interval), ask));
  // The continuation is moved, not copied: it owns the caller's completion (a std::function).
  ctx_.store->announce(op, [finish = std::move(finish), interval, min_interval, ask = std::move(ask)](
                               store::Status st, store::AnnounceResult&& r) mutable {
    finish(advise(reply_from_store(st, std::move(r), interval, min_interval), ask));
  });
}

AnnounceHandler::OriginAsk AnnounceHandler::origin_ask(const AnnounceRequest& req, store::AnnounceOp& op) const {
  OriginAsk ask;
  // Advice for HTTP (an extra key plain clients skip) and for UDP clients that asked (origin=1).
  if (!ctx_.origin || !ctx_.registry || !(req.protocol == Protocol::http || req.origin)) return ask;
  ask.policy = ctx_.registry->origin_policy(req.info_hash);
  if (!ask.policy) return ask;
  ask.planner = ctx_.origin;
  ask.info_hash = req.info_hash;
  ask.device = op.peer.device;
  ask.event = req.event;
  ask.left = req.left;
  ask.reach = op.peer.reach;
  ask.lan = op.peer.loc.lan;
  // A follower re-announces every recheck period while it waits for a grant.
  if (req.origin)
    op.min_interval_ms = std::min<int64_t>(op.min_interval_ms, int64_t{ask.policy->recheck_s} * 1000 * 9 / 10);
  return ask;
}

AnnounceResponse AnnounceHandler::advise(AnnounceResponse&& res, const OriginAsk& ask) {
  if (!ask.planner || !res.failure.empty() || res.too_soon) return std::move(res);
  OriginObservation o;
  o.device = ask.device;
  o.event = ask.event;
  o.left = ask.left;
  o.seeders = res.complete;
  o.leechers = res.incomplete;
  o.peers = res.peers.size();
  o.reach = ask.reach;
  o.lan = ask.lan;
  res.origin = ask.planner->advise(ask.info_hash, *ask.policy, o);
  return std::move(res);
}

void AnnounceHandler::scrape(const ScrapeRequest& req, ScrapeDone done) const {
  auto t0 = std::chrono::steady_clock::now();
  TrackerMetrics* m = ctx_.metrics;
  Protocol proto = req.protocol;
  auto finish = [m, proto, t0, done = std::move(done)](ScrapeResponse&& res) {
    if (m) {
      m->scrape_counter(proto, res.failure.empty()).inc();
      if (res.reject != Reject::none) m->reject_counter(res.reject).inc();
      m->latency(proto, TrackerMetrics::Action::scrape).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    done(std::move(res));
  };
  ScrapeResponse res;
  // UDP scrapes carry no URL data (BEP 41 covers announces); the connection id already
  // proves the source address, and only registered releases are ever reported.
  bool need_token = req.protocol == Protocol::http && (!ctx_.policy.open || !req.token.empty());
  if (need_token) {
    std::string device, why;
    Reject r = req.token.empty() ? Reject::malformed_token : check_token(req.token, device, why);
    if (req.token.empty()) why = "missing device token in scrape URL";
    if (r != Reject::none) {
      res.reject = r;
      res.failure = why;
      return finish(std::move(res));
    }
  }
  std::vector<store::InfoHash> hashes;
  std::vector<bool> known;
  if (req.info_hashes.empty() && ctx_.registry) {
    for (const auto& rel : ctx_.registry->list()) {
      if (hashes.size() >= kMaxFullScrape) break;
      hashes.push_back(rel.info_hash);
      known.push_back(true);
    }
  } else {
    for (const auto& h : req.info_hashes) {
      hashes.push_back(h);
      known.push_back(ctx_.policy.open || (ctx_.registry && ctx_.registry->contains(h)));
    }
  }
  std::vector<store::InfoHash> lookup;
  for (size_t i = 0; i < hashes.size(); ++i)
    if (known[i]) lookup.push_back(hashes[i]);
  ctx_.store->scrape(lookup, [finish, hashes, known](store::Status st,
                                                     std::vector<store::SwarmCounts>&& counts) mutable {
    ScrapeResponse res;
    if (st != store::Status::ok) {
      res.reject = Reject::store_unavailable;
      res.failure = "tracker storage unavailable, retry later";
      return finish(std::move(res));
    }
    size_t c = 0;
    for (size_t i = 0; i < hashes.size(); ++i) {
      ScrapeEntry e;
      e.info_hash = hashes[i];
      e.known = known[i] && c < counts.size();
      if (e.known) {
        e.complete = counts[c].seeders;
        e.incomplete = counts[c].leechers;
        e.downloaded = counts[c].completed;
        ++c;
      }
      res.files.push_back(e);
    }
    finish(std::move(res));
  });
}

std::string encode_failure(std::string_view reason, std::optional<uint32_t> retry_in) {
  std::string out;
  bencode::Writer w(out);
  w.dict_begin().key("failure reason").string(reason);
  if (retry_in) w.key("retry in").integer(*retry_in);
  w.end();
  return out;
}

Reject request_from_bep15(const udp::AnnounceRequest& a, const net::Address& source, AnnounceRequest& req,
                          std::string_view& error) {
  req.protocol = Protocol::udp;
  req.source = source;
  req.info_hash = a.info_hash;
  req.peer_id = a.peer_id;
  req.port = a.port;
  req.uploaded = a.uploaded;
  req.downloaded = a.downloaded;
  req.left = a.left;
  req.numwant = a.num_want < 0 ? -1 : a.num_want;
  if (a.event > 3) {
    error = "unknown event";
    return Reject::bad_request;
  }
  static constexpr store::Event kEvents[] = {store::Event::none, store::Event::completed, store::Event::started,
                                             store::Event::stopped};
  req.event = kEvents[a.event];
  if (a.ip != 0) req.ip_param = boost::asio::ip::address_v4(a.ip).to_string();
  if (req.port == 0 && req.event != store::Event::stopped) {
    error = "port must not be 0";
    return Reject::bad_request;
  }
  std::string_view url = a.url_data;
  std::string_view path = url.substr(0, url.find('?'));
  std::string_view query = url.size() > path.size() ? url.substr(path.size() + 1) : std::string_view{};
  if (!path.empty() && !token_from_path(path, "announce", req.token)) {
    error = "announce URL path must be /announce/<device-token>";
    return Reject::malformed_token;
  }
  if (!query.empty()) {
    AnnounceRequest extra;
    // Only the otaswarm extension parameters are taken from the URL; the packet has the rest,
    // so "missing info_hash"-style errors from this parse do not apply.
    parse_announce_query(std::string(query), extra);
    req.localip = extra.localip;
    req.lan = extra.lan;
    req.icode = extra.icode;
    req.nat = extra.nat;
    req.origin = extra.origin;
    if (!req.localip && extra.ip_param) req.localip = extra.ip_param;
  }
  return Reject::none;
}

std::string encode_bep15_announce(uint32_t tid, bool v6, const AnnounceResponse& res) {
  // Peers go straight from the selection into the datagram: no intermediate list.
  const size_t addr_len = v6 ? 16 : 4;
  std::string out;
  out.reserve(20 + (addr_len + 2) * res.peers.size());
  udp::build_announce_header(out, tid, res.interval, res.incomplete, res.complete);
  size_t header = out.size();
  out.resize(header + (addr_len + 2) * res.peers.size());
  char* w = out.data() + header;
  for (const auto& p : res.peers) {
    if (p.ip.v6 != v6) continue;
    std::memcpy(w, p.ip.b.data(), addr_len);
    w[addr_len] = static_cast<char>(p.port >> 8);
    w[addr_len + 1] = static_cast<char>(p.port & 0xff);
    w += addr_len + 2;
  }
  out.resize(static_cast<size_t>(w - out.data()));
  // BEP 15 has no room for it: the trailer after the peers, only ever for a client that asked.
  if (res.origin) {
    const OriginAdvice& a = *res.origin;
    udp::OriginTrailer t;
    t.grant = a.grant;
    t.recheck_s = static_cast<uint16_t>(std::min<uint32_t>(a.recheck_s, UINT16_MAX));
    t.starvation_delay_s = static_cast<uint16_t>(std::min<uint32_t>(a.starvation_delay_s, UINT16_MAX));
    t.rate = static_cast<uint32_t>(std::min<uint64_t>(a.rate, UINT32_MAX));
    t.starvation_floor = static_cast<uint32_t>(std::min<uint64_t>(a.starvation_floor, UINT32_MAX));
    udp::append_origin_trailer(out, t);
  }
  return out;
}

std::string encode_announce(const AnnounceRequest& req, const AnnounceResponse& res) {
  if (!res.failure.empty())
    return encode_failure(res.failure, res.retry_in_s ? std::optional<uint32_t>((res.retry_in_s + 59) / 60)
                                                      : std::nullopt);
  std::string out;
  out.reserve(128 + res.peers.size() * 20);
  bencode::Writer w(out);
  w.dict_begin();
  w.key("complete").integer(res.complete);
  w.key("downloaded").integer(static_cast<int64_t>(res.downloaded));
  w.key("incomplete").integer(res.incomplete);
  w.key("interval").integer(res.interval);
  w.key("min interval").integer(res.min_interval);
  if (req.compact) {
    std::string v4, v6;
    for (const auto& p : res.peers) {
      std::string& dst = p.ip.v6 ? v6 : v4;
      dst.append(reinterpret_cast<const char*>(p.ip.b.data()), p.ip.v6 ? 16 : 4);
      dst.push_back(static_cast<char>(p.port >> 8));
      dst.push_back(static_cast<char>(p.port & 0xff));
    }
    w.key("peers").string(v4);
    if (!v6.empty()) w.key("peers6").string(v6);
  } else {
    w.key("peers").list_begin();
    for (const auto& p : res.peers) {
      net::Address a;
      if (p.ip.v6) {
        boost::asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), p.ip.b.data(), 16);
        a = boost::asio::ip::address_v6(b);
      } else {
        boost::asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), p.ip.b.data(), 4);
        a = boost::asio::ip::address_v4(b);
      }
      w.dict_begin().key("ip").string(a.to_string());
      if (!req.no_peer_id)
        w.key("peer id").string(std::string_view(reinterpret_cast<const char*>(p.peer_id.data()), 20));
      w.key("port").integer(p.port).end();
    }
    w.end();
  }
  if (!res.warning.empty()) w.key("warning message").string(res.warning);
  if (res.origin) {
    const OriginAdvice& a = *res.origin;
    w.key(kOriginAdviceKey).dict_begin();
    w.key("delay").integer(a.starvation_delay_s);
    w.key("floor").integer(static_cast<int64_t>(a.starvation_floor));
    w.key("grant").integer(a.grant ? 1 : 0);
    w.key("rate").integer(static_cast<int64_t>(a.rate));
    w.key("recheck").integer(a.recheck_s);
    w.end();
  }
  w.end();
  return out;
}

std::optional<OriginAdvice> decode_origin_advice(std::string_view http_reply) {
  auto r = bencode::decode(http_reply);
  if (!r) return std::nullopt;
  const bencode::Value* o = r.value.find(kOriginAdviceKey);
  if (!o || !o->is_dict()) return std::nullopt;
  auto num = [&](std::string_view k, int64_t& out) {
    const bencode::Value* f = o->find(k);
    if (!f || !f->is_int() || f->as_int() < 0) return false;
    out = f->as_int();
    return true;
  };
  int64_t delay = 0, floor = 0, grant = 0, rate = 0, recheck = 0;
  if (!num("delay", delay) || !num("floor", floor) || !num("grant", grant) || !num("rate", rate) ||
      !num("recheck", recheck))
    return std::nullopt;
  OriginAdvice a;
  a.grant = grant != 0;
  a.rate = static_cast<uint64_t>(rate);
  a.recheck_s = static_cast<uint32_t>(std::min<int64_t>(recheck, UINT32_MAX));
  a.starvation_floor = static_cast<uint64_t>(floor);
  a.starvation_delay_s = static_cast<uint32_t>(std::min<int64_t>(delay, UINT32_MAX));
  return a;
}

std::string encode_scrape(const ScrapeResponse& res) {
  if (!res.failure.empty()) return encode_failure(res.failure);
  std::vector<ScrapeEntry> files;
  for (const auto& f : res.files)
    if (f.known) files.push_back(f);
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.info_hash < b.info_hash; });
  // A query may name a hash twice; a bencoded dict must not repeat a key.
  files.erase(std::unique(files.begin(), files.end(),
                          [](const auto& a, const auto& b) { return a.info_hash == b.info_hash; }),
              files.end());
  std::string out;
  bencode::Writer w(out);
  w.dict_begin().key("files").dict_begin();
  for (const auto& f : files) {
    w.key(std::string_view(reinterpret_cast<const char*>(f.info_hash.data()), 20));
    w.dict_begin()
        .key("complete")
        .integer(f.complete)
        .key("downloaded")
        .integer(static_cast<int64_t>(f.downloaded))
        .key("incomplete")
        .integer(f.incomplete)
        .end();
  }
  w.end().end();
  return out;
}

}  // namespace otaswarm
