#pragma once
// Runs one load: starts the worker threads on a common start time, prints the live progress
// line, merges the workers' stats when they are done.
#include <atomic>
#include <cstdint>

#include "loadtest/load/population.h"
#include "loadtest/load/stats.h"
#include "loadtest/load/target.h"

namespace otaswarm::loadtest {

struct LoadOptions {
  Target target;
  double rate = 0, duration_s = 0, ramp_s = 0;
  uint64_t max_requests = 0;
  unsigned threads = 1;
  uint32_t concurrency = 1024;  // UDP: requests in flight; HTTP: open connections
  int64_t timeout_ns = 2'000'000'000;
  int32_t numwant = 50;
  bool progress = false;
  PopulationConfig population;
};

struct LoadResult {
  RunStats stats;
  uint32_t slots = 0;
  double elapsed_s = 0;  // wall clock from the start until the last reply or timeout
};

// Throws std::runtime_error when sockets cannot be set up.
LoadResult run_load(const LoadOptions& options, const std::atomic<bool>& stop);

}  // namespace otaswarm::loadtest
