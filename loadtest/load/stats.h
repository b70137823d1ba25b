#pragma once
// Counters of one run: per phase (ramp/steady), per second (for the chart), by error kind.
// Each worker owns one RunStats (no lock on the hot path); they are merged when the run ends.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/load/histogram.h"
#include "loadtest/load/population.h"
#include "loadtest/load/schedule.h"

namespace otaswarm::loadtest {

// Every sent announce ends exactly once: answered, an error of one of these kinds, or a timeout.
enum class ErrorKind : uint8_t { send_failed, tracker_failure, bad_reply, http_status, connect_failed, io };
inline constexpr unsigned kErrorKinds = 6;
const char* to_string(ErrorKind k);

// Offered but never sent: the generator's own bounds (so offered = sent + not_sent).
enum class NotSentKind : uint8_t { inflight_limit, no_connection };
inline constexpr unsigned kNotSentKinds = 2;
const char* to_string(NotSentKind k);

struct PhaseStats {
  uint64_t offered = 0, sent = 0, answered = 0, timeouts = 0;
  std::array<uint64_t, kErrorKinds> errors{};
  std::array<uint64_t, kNotSentKinds> not_sent{};
  LatencyHistogram latency;

  uint64_t errors_total() const;
  uint64_t not_sent_total() const;
  void merge(const PhaseStats& o);
};

struct SecondStats {
  uint64_t offered = 0, answered = 0, failed = 0;
  LatencyHistogram latency;
  void merge(const SecondStats& o);
};

// Distinct failure messages kept verbatim; a misbehaving tracker cannot grow the map.
inline constexpr size_t kMaxFailureReasons = 8;
inline constexpr size_t kMaxFailureReasonLength = 160;

struct RunStats {
  std::array<PhaseStats, kPhases> phases;
  std::array<uint64_t, kEvents> events{};
  uint64_t connects_sent = 0, connects_answered = 0, connect_failures = 0;
  uint64_t late_replies = 0, stray_datagrams = 0, icmp_errors = 0, peers_received = 0, retries = 0;
  uint64_t max_lag_ns = 0, late_requests = 0;
  std::vector<SecondStats> timeline;
  std::map<std::string, uint64_t> failure_reasons;  // the tracker's own words, a few distinct ones

  // Counts a tracker failure message; new messages beyond kMaxFailureReasons go to "(other)".
  void note_failure(std::string_view reason);

  PhaseStats total() const;
  // Per-second bucket of a time in ns since the start; grows the timeline as needed.
  SecondStats& second(int64_t ns_since_start);
  void merge(const RunStats& o);
};

// Read by the progress line from another thread; written only by the owning worker.
struct LiveCounters {
  std::atomic<uint64_t> offered{0}, answered{0}, failed{0}, inflight{0};
};

}  // namespace otaswarm::loadtest
