#include "loadtest/load/http_announce.h"

#include "common/percent.h"
#include "common/proto/bencode.h"

namespace otaswarm::loadtest {
namespace {
inline constexpr size_t kCompactPeerV4 = 6;
inline constexpr size_t kCompactPeerV6 = 18;
inline constexpr size_t kMaxFailureReason = 512;
}  // namespace

std::string http_announce_target(const Announce& a, int32_t numwant) {
  std::string t;
  t.reserve(a.path->size() + 256);
  t += *a.path;
  // The path may already carry the phone's query (localip, lan, nat).
  t += a.path->find('?') == std::string::npos ? "?info_hash=" : "&info_hash=";
  percent::encode(t, crypto::as_view(*a.info_hash));
  t += "&peer_id=";
  percent::encode(t, {reinterpret_cast<const char*>(a.peer_id.data()), a.peer_id.size()});
  t += "&port=" + std::to_string(a.port);
  t += "&uploaded=" + std::to_string(a.uploaded);
  t += "&downloaded=" + std::to_string(a.downloaded);
  t += "&left=" + std::to_string(a.left);
  t += "&compact=1&numwant=" + std::to_string(numwant);
  if (a.event != Event::none) {
    t += "&event=";
    t += to_string(a.event);
  }
  t += "&key=" + std::to_string(a.key);
  return t;
}

HttpReply classify_http_reply(std::string_view body) {
  HttpReply r;
  bencode::Limits limits;
  limits.strict_key_order = false;  // judge the tracker's answer, not its key order
  auto d = bencode::decode(body, limits);
  if (!d || !d.value.is_dict()) return r;
  if (const auto* f = d.value.find("failure reason"); f && f->is_string()) {
    r.kind = HttpReplyKind::tracker_failure;
    r.failure_reason = f->as_string().substr(0, kMaxFailureReason);
    return r;
  }
  const auto* interval = d.value.find("interval");
  if (!interval || !interval->is_int()) return r;
  const auto* peers = d.value.find("peers");
  const auto* peers6 = d.value.find("peers6");
  if (!peers && !peers6) return r;
  if (peers) {
    if (peers->is_string()) {
      if (peers->as_string().size() % kCompactPeerV4 != 0) return r;
      r.peers += peers->as_string().size() / kCompactPeerV4;
    } else if (peers->is_list()) {
      r.peers += peers->as_list().size();
    } else {
      return r;
    }
  }
  if (peers6) {
    if (!peers6->is_string() || peers6->as_string().size() % kCompactPeerV6 != 0) return r;
    r.peers += peers6->as_string().size() / kCompactPeerV6;
  }
  r.kind = HttpReplyKind::ok;
  return r;
}

}  // namespace otaswarm::loadtest
