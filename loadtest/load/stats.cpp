#include "loadtest/load/stats.h"

#include <algorithm>

namespace otaswarm::loadtest {
namespace {
// Bounds the timeline of a run (the command caps --duration well below this).
inline constexpr size_t kMaxTimelineSeconds = 4000;
inline constexpr int64_t kNsPerSecond = 1'000'000'000;
}  // namespace

const char* to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::send_failed: return "send_failed";
    case ErrorKind::tracker_failure: return "tracker_failure";
    case ErrorKind::bad_reply: return "bad_reply";
    case ErrorKind::http_status: return "http_status";
    case ErrorKind::connect_failed: return "connect_failed";
    case ErrorKind::io: return "io";
  }
  return "?";
}

const char* to_string(NotSentKind k) {
  return k == NotSentKind::inflight_limit ? "inflight_limit" : "no_connection";
}

uint64_t PhaseStats::errors_total() const {
  uint64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

uint64_t PhaseStats::not_sent_total() const {
  uint64_t n = 0;
  for (auto e : not_sent) n += e;
  return n;
}

void PhaseStats::merge(const PhaseStats& o) {
  offered += o.offered;
  sent += o.sent;
  answered += o.answered;
  timeouts += o.timeouts;
  for (unsigned i = 0; i < kErrorKinds; ++i) errors[i] += o.errors[i];
  for (unsigned i = 0; i < kNotSentKinds; ++i) not_sent[i] += o.not_sent[i];
  latency.merge(o.latency);
}

void SecondStats::merge(const SecondStats& o) {
  offered += o.offered;
  answered += o.answered;
  failed += o.failed;
  latency.merge(o.latency);
}

PhaseStats RunStats::total() const {
  PhaseStats t;
  for (const auto& p : phases) t.merge(p);
  return t;
}

SecondStats& RunStats::second(int64_t ns) {
  size_t s = std::min<size_t>(ns < 0 ? 0 : static_cast<size_t>(ns / kNsPerSecond), kMaxTimelineSeconds - 1);
  if (timeline.size() <= s) timeline.resize(s + 1);
  return timeline[s];
}

void RunStats::note_failure(std::string_view reason) {
  std::string key(reason.substr(0, kMaxFailureReasonLength));
  auto it = failure_reasons.find(key);
  if (it != failure_reasons.end()) ++it->second;
  else if (failure_reasons.size() < kMaxFailureReasons) failure_reasons.emplace(std::move(key), 1);
  else ++failure_reasons["(other)"];
}

void RunStats::merge(const RunStats& o) {
  for (unsigned i = 0; i < kPhases; ++i) phases[i].merge(o.phases[i]);
  for (unsigned i = 0; i < kEvents; ++i) events[i] += o.events[i];
  connects_sent += o.connects_sent;
  connects_answered += o.connects_answered;
  connect_failures += o.connect_failures;
  late_replies += o.late_replies;
  stray_datagrams += o.stray_datagrams;
  icmp_errors += o.icmp_errors;
  peers_received += o.peers_received;
  retries += o.retries;
  max_lag_ns = std::max(max_lag_ns, o.max_lag_ns);
  late_requests += o.late_requests;
  if (timeline.size() < o.timeline.size()) timeline.resize(o.timeline.size());
  for (size_t i = 0; i < o.timeline.size(); ++i) timeline[i].merge(o.timeline[i]);
  for (const auto& [reason, n] : o.failure_reasons) {
    auto it = failure_reasons.find(reason);
    if (it != failure_reasons.end()) it->second += n;
    else if (failure_reasons.size() < kMaxFailureReasons) failure_reasons.emplace(reason, n);
    else failure_reasons["(other)"] += n;
  }
}

}  // namespace otaswarm::loadtest
