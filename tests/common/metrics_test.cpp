#include "common/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace otaswarm::metrics {
namespace {

bool contains_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, CounterWithLabels) {
  Registry r;
  auto& f = r.counter("demo_requests_total", "Requests.", {"protocol", "result"});
  f.with({"udp", "ok"}).inc();
  f.with({"udp", "ok"}).inc(2);
  f.with({"http", "error"}).inc();
  std::string out = r.expose();
  EXPECT_TRUE(contains_line(out, "# HELP demo_requests_total Requests.")) << out;
  EXPECT_TRUE(contains_line(out, "# TYPE demo_requests_total counter")) << out;
  EXPECT_TRUE(contains_line(out, "demo_requests_total{protocol=\"udp\",result=\"ok\"} 3")) << out;
  EXPECT_TRUE(contains_line(out, "demo_requests_total{protocol=\"http\",result=\"error\"} 1")) << out;
}

TEST(Metrics, UnlabelledGauge) {
  Registry r;
  auto& g = r.gauge("demo_open", "Open things.").get();
  g.set(5);
  g.add(-1.5);
  EXPECT_DOUBLE_EQ(g.value(), 3.5);
  EXPECT_TRUE(contains_line(r.expose(), "demo_open 3.5"));
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("demo_seconds", "Latency.", {"op"}, {0.1, 1}).with({"get"});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.5);
  h.observe(7);
  std::string out = r.expose();
  EXPECT_TRUE(contains_line(out, "# TYPE demo_seconds histogram")) << out;
  EXPECT_TRUE(contains_line(out, "demo_seconds_bucket{op=\"get\",le=\"0.1\"} 2")) << out;
  EXPECT_TRUE(contains_line(out, "demo_seconds_bucket{op=\"get\",le=\"1\"} 3")) << out;
  EXPECT_TRUE(contains_line(out, "demo_seconds_bucket{op=\"get\",le=\"+Inf\"} 4")) << out;
  EXPECT_TRUE(contains_line(out, "demo_seconds_sum{op=\"get\"} 7.65")) << out;
  EXPECT_TRUE(contains_line(out, "demo_seconds_count{op=\"get\"} 4")) << out;
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Registry r;
  r.counter("demo_total", "x", {"name"}).with({"quote\"d"}).inc();
  EXPECT_TRUE(contains_line(r.expose(), "demo_total{name=\"quote\\\"d\"} 1"));
}

TEST(Metrics, CallbackFamilies) {
  Registry r;
  r.callback("demo_release_seeders", "Seeders.", [] {
    return std::vector<Sample>{{{{"info_hash", "ab"}, {"name", "v1"}}, 4}, {{{"info_hash", "cd"}, {"name", "v2"}}, 0}};
  });
  r.callback("demo_completed_total", "Completed.", [] { return std::vector<Sample>{{{}, 12}}; }, true);
  std::string out = r.expose();
  EXPECT_TRUE(contains_line(out, "# TYPE demo_release_seeders gauge"));
  EXPECT_TRUE(contains_line(out, "demo_release_seeders{info_hash=\"ab\",name=\"v1\"} 4")) << out;
  EXPECT_TRUE(contains_line(out, "demo_release_seeders{info_hash=\"cd\",name=\"v2\"} 0")) << out;
  EXPECT_TRUE(contains_line(out, "# TYPE demo_completed_total counter"));
  EXPECT_TRUE(contains_line(out, "demo_completed_total 12")) << out;
}

TEST(Metrics, FormatDouble) {
  EXPECT_EQ(format_double(0), "0");
  EXPECT_EQ(format_double(-3), "-3");
  EXPECT_EQ(format_double(0.25), "0.25");
  EXPECT_EQ(format_double(5e-05), "5e-05");
  EXPECT_EQ(format_double(1e20), "1e+20");
  EXPECT_EQ(format_double(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_double(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_double(std::nan("")), "NaN");
}

TEST(Metrics, LatencyBucketsAscend) {
  auto b = latency_buckets();
  ASSERT_FALSE(b.empty());
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
  EXPECT_DOUBLE_EQ(b.front(), 0.00005);
  EXPECT_DOUBLE_EQ(b.back(), 5);
}

TEST(Metrics, SeriesReferencesStayValid) {
  Registry r;
  auto& f = r.counter("demo_total", "x", {"k"});
  Counter& first = f.with({"a"});
  for (int i = 0; i < 1000; ++i) f.with({std::to_string(i)});
  first.inc();
  EXPECT_EQ(&first, &f.with({"a"}));
  EXPECT_EQ(f.with({"a"}).value(), 1u);
}

std::string promtool_path() {
  for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

TEST(Metrics, ExpositionPassesPromtool) {
  std::string promtool = promtool_path();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (apt-get install prometheus)";
  Registry r;
  auto& req = r.counter("otaswarm_demo_requests_total", "Requests answered.", {"protocol", "result"});
  req.with({"udp", "ok"}).inc(3);
  req.with({"http", "weird \"label\"\nvalue\\"}).inc();
  r.counter("otaswarm_demo_unused_total", "A family with no series yet.", {"reason"});
  r.gauge("otaswarm_demo_open_connections", "Open connections.").get().set(2);
  auto& h = r.histogram("otaswarm_demo_request_duration_seconds", "Request time.", {"action"}, latency_buckets());
  h.with({"announce"}).observe(0.0003);
  h.with({"scrape"}).observe(2);
  r.callback("otaswarm_demo_release_offload_ratio", "Offload.",
             [] { return std::vector<Sample>{{{{"info_hash", "00ff"}, {"name", "r"}}, 0.75}}; });
  r.callback("otaswarm_demo_release_completed_total", "Completed.",
             [] { return std::vector<Sample>{{{{"info_hash", "00ff"}}, 3}}; }, true);

  auto file = std::filesystem::temp_directory_path() / ("otaswarm-metrics-" + std::to_string(::getpid()) + ".prom");
  std::ofstream(file, std::ios::binary) << r.expose();
  std::string cmd = promtool + " check metrics < " + file.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  int status = ::pclose(p);
  std::filesystem::remove(file);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "promtool said:\n" << output;
}

}  // namespace
}  // namespace otaswarm::metrics
