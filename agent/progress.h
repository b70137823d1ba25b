#pragma once
// What the agent prints on stdout (CONTRACT.md "Device agent"): JSON lines for machines, a
// progress bar for people. Pure formatting; the fetch loop decides when.
#include <cstdint>
#include <string>

#include "agent/byte_accounting.h"
#include "common/json.h"

namespace otaswarm::agent {

struct ProgressSnapshot {
  double progress = 0;         // 0.0-1.0 of the wanted bytes verified
  std::string state;           // "checking", "downloading", "seeding", ...
  ByteTotals bytes;
  uint64_t total_wanted = 0;   // bytes of the file(s)
  int peers = 0;               // connected peers, web seeds included
  int download_rate = 0;       // payload bytes/s
  int upload_rate = 0;
  double seconds = 0;          // since start
};

// {"progress":…, "state":…, "bytes":{…}, "uploaded":…, "peers":…, "download_rate":…, …}
Json progress_json(const ProgressSnapshot& s);
// {"done":true, "verified":true, "bytes":{…}, "uploaded":…, "seconds":S}
Json done_json(const ByteTotals& bytes, double seconds);
// {"done":false, "error":…, "bytes":{…}, "seconds":S}
Json error_json(const std::string& error, const ByteTotals& bytes, double seconds);

// "[#######.....]  41.2%  3.1 MB/s  web 12.0 MB  lan 3.0 MB  direct 0 B" (no newline), `width`
// characters of bar.
std::string progress_bar(const ProgressSnapshot& s, int width);

std::string human_bytes(double n);

}  // namespace otaswarm::agent
