#pragma once
// The run's report: one JSON object (--json), a short text summary, and the PNG chart.
#include <string>

#include "common/json.h"
#include "loadtest/load/runner.h"

namespace otaswarm::loadtest {

struct ReportContext {
  std::string tracker_url;
  const LoadOptions* options = nullptr;
};

Json make_report(const ReportContext& ctx, const LoadResult& r);
std::string text_summary(const Json& report);

// Offered vs answered rate and p99 latency per second, via gnuplot. Returns "" or why it failed.
std::string write_chart(const Json& report, const std::string& png_path);

}  // namespace otaswarm::loadtest
