#include "agent/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace otaswarm::agent {
namespace {
double round_to(double v, double step) { return std::round(v / step) * step; }
constexpr double kProgressStep = 1e-4;  // four decimals are plenty and keep lines short
constexpr double kSecondsStep = 1e-3;
}  // namespace

Json progress_json(const ProgressSnapshot& s) {
  Json j;
  j["progress"] = round_to(std::clamp(s.progress, 0.0, 1.0), kProgressStep);
  j["state"] = s.state;
  j["bytes"] = bytes_json(s.bytes);
  j["uploaded"] = s.bytes.uploaded;
  j["size"] = s.total_wanted;
  j["peers"] = s.peers;
  j["download_rate"] = s.download_rate;
  j["upload_rate"] = s.upload_rate;
  j["seconds"] = round_to(s.seconds, kSecondsStep);
  return j;
}

Json done_json(const ByteTotals& bytes, double seconds) {
  Json j;
  j["done"] = true;
  j["verified"] = true;
  j["bytes"] = bytes_json(bytes);
  j["uploaded"] = bytes.uploaded;
  j["seconds"] = round_to(seconds, kSecondsStep);
  return j;
}

Json error_json(const std::string& error, const ByteTotals& bytes, double seconds) {
  Json j;
  j["done"] = false;
  j["error"] = error;
  j["bytes"] = bytes_json(bytes);
  j["seconds"] = round_to(seconds, kSecondsStep);
  return j;
}

std::string human_bytes(double n) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", n, kUnits[u]);
  return buf;
}

std::string progress_bar(const ProgressSnapshot& s, int width) {
  width = std::max(width, 1);
  double p = std::clamp(s.progress, 0.0, 1.0);
  int filled = static_cast<int>(p * width);
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.') + "]";
  char pct[16];
  std::snprintf(pct, sizeof pct, " %5.1f%%", p * 100);
  return bar + pct + "  " + human_bytes(s.download_rate) + "/s  web " + human_bytes(static_cast<double>(s.bytes.of(Path::webseed))) +
         "  lan " + human_bytes(static_cast<double>(s.bytes.of(Path::lan))) + "  direct " +
         human_bytes(static_cast<double>(s.bytes.of(Path::direct))) + "  " + s.state;
}

}  // namespace otaswarm::agent
