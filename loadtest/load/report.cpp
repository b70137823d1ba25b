#include "loadtest/load/report.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace otaswarm::loadtest {
namespace {

inline constexpr double kNsPerMs = 1e6;

double ms(uint64_t ns) { return static_cast<double>(ns) / kNsPerMs; }

Json latency_json(const LatencyHistogram& h) {
  return {{"count", h.count()},
          {"p50", ms(h.percentile_ns(50))},
          {"p90", ms(h.percentile_ns(90))},
          {"p99", ms(h.percentile_ns(99))},
          {"p99_9", ms(h.percentile_ns(99.9))},
          {"max", ms(h.max_ns())}};
}

void put_counts(Json& o, const PhaseStats& p, double window_s) {
  o["offered"] = p.offered;
  o["sent"] = p.sent;
  o["not_sent"] = p.not_sent_total();
  Json ns = Json::object();
  for (unsigned i = 0; i < kNotSentKinds; ++i) ns[to_string(static_cast<NotSentKind>(i))] = p.not_sent[i];
  o["not_sent_by_kind"] = std::move(ns);
  o["answered"] = p.answered;
  o["errors"] = p.errors_total();
  Json ek = Json::object();
  for (unsigned i = 0; i < kErrorKinds; ++i) ek[to_string(static_cast<ErrorKind>(i))] = p.errors[i];
  o["errors_by_kind"] = std::move(ek);
  o["timeouts"] = p.timeouts;
  o["window_s"] = window_s;
  o["offered_per_s"] = window_s > 0 ? static_cast<double>(p.offered) / window_s : 0.0;
  o["answered_per_s"] = window_s > 0 ? static_cast<double>(p.answered) / window_s : 0.0;
  o["latency_ms"] = latency_json(p.latency);
}

double num(const Json& v) { return v.get<double>(); }

}  // namespace

Json make_report(const ReportContext& ctx, const LoadResult& r) {
  const LoadOptions& o = *ctx.options;
  Schedule sched(o.rate, o.ramp_s, o.duration_s, o.max_requests);
  Json rep = Json::object();
  rep["tracker"] = ctx.tracker_url;
  rep["protocol"] = to_string(o.target.protocol);
  rep["rate"] = o.rate;
  rep["duration_s"] = o.duration_s;
  rep["ramp_s"] = sched.ramp_s();
  rep["threads"] = o.threads;
  rep["phones"] = o.population.phones;
  rep["source_addresses"] = o.population.source_cidr ? r.slots : 1u;
  rep["sockets_per_run"] = r.slots;
  rep["household_phones"] = o.population.household_phones;
  rep["lan_hints"] = o.population.lan_hints;
  if (o.population.nat_mix) {
    Json mix = Json::object();
    for (size_t i = 0; i < kNatClasses; ++i) mix[nat::kClassicNames[i]] = (*o.population.nat_mix)[i];
    rep["nat_mix"] = mix;
  }
  rep["concurrency"] = o.concurrency;
  rep["timeout_ms"] = static_cast<double>(o.timeout_ns) / kNsPerMs;
  rep["numwant"] = o.numwant;
  rep["max_requests"] = o.max_requests;

  // With --max-requests the schedule may end before --duration: rates are over the real window.
  const double end_s = sched.end_s();
  PhaseStats total = r.stats.total();
  put_counts(rep, total, end_s);
  rep["throughput"] = end_s > 0 ? static_cast<double>(total.answered) / end_s : 0.0;
  Json phases = Json::object();
  for (unsigned i = 0; i < kPhases; ++i) {
    auto phase = static_cast<Phase>(i);
    double window = phase == Phase::ramp ? std::min(sched.ramp_s(), end_s) : std::max(0.0, end_s - sched.ramp_s());
    Json p = Json::object();
    put_counts(p, r.stats.phases[i], window);
    phases[to_string(phase)] = std::move(p);
  }
  rep["phases"] = std::move(phases);
  Json events = Json::object();
  for (unsigned i = 0; i < kEvents; ++i) events[to_string(static_cast<Event>(i))] = r.stats.events[i];
  rep["events"] = std::move(events);
  rep["connects"] = Json{{"sent", r.stats.connects_sent},
                                 {"answered", r.stats.connects_answered},
                                 {"failed", r.stats.connect_failures}};
  rep["peers_received"] = r.stats.peers_received;
  rep["late_replies"] = r.stats.late_replies;
  rep["stray_datagrams"] = r.stats.stray_datagrams;
  rep["icmp_errors"] = r.stats.icmp_errors;
  rep["http_retries"] = r.stats.retries;
  rep["generator"] = Json{{"max_lag_ms", ms(r.stats.max_lag_ns)}, {"late_requests", r.stats.late_requests}};
  Json reasons = Json::object();
  for (const auto& [reason, n] : r.stats.failure_reasons) reasons[reason] = n;
  rep["failure_reasons"] = std::move(reasons);
  rep["elapsed_s"] = r.elapsed_s;
  Json timeline = Json::array();
  for (size_t s = 0; s < r.stats.timeline.size(); ++s) {
    const SecondStats& t = r.stats.timeline[s];
    timeline.push_back(Json{{"t", s},
                                    {"offered", t.offered},
                                    {"answered", t.answered},
                                    {"failed", t.failed},
                                    {"p50_ms", ms(t.latency.percentile_ns(50))},
                                    {"p99_ms", ms(t.latency.percentile_ns(99))}});
  }
  rep["timeline"] = std::move(timeline);
  return rep;
}

std::string text_summary(const Json& rep) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%s load on %s: %.0f/s for %.1f s (ramp %.1f s), %lld phones, %lld thread(s)\n",
                rep.at("protocol").get<std::string>().c_str(),
                rep.at("tracker").get<std::string>().c_str(), num(rep.at("rate")), num(rep.at("duration_s")),
                num(rep.at("ramp_s")), static_cast<long long>(num(rep.at("phones"))),
                static_cast<long long>(num(rep.at("threads"))));
  os << line;
  auto phase_line = [&](const char* name, const Json& p) {
    const auto& l = p.at("latency_ms");
    std::snprintf(line, sizeof line,
                  "  %-7s offered %9.0f  answered %9.0f (%8.0f/s)  errors %6.0f  timeouts %6.0f  not sent %6.0f  "
                  "latency ms p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n",
                  name, num(p.at("offered")), num(p.at("answered")), num(p.at("answered_per_s")), num(p.at("errors")),
                  num(p.at("timeouts")), num(p.at("not_sent")), num(l.at("p50")), num(l.at("p90")), num(l.at("p99")),
                  num(l.at("p99_9")), num(l.at("max")));
    os << line;
  };
  const auto& phases = rep.at("phases");
  if (num(rep.at("ramp_s")) > 0) phase_line("ramp", phases.at("ramp"));
  phase_line("steady", phases.at("steady"));
  phase_line("all", rep);
  for (const char* key : {"errors_by_kind", "not_sent_by_kind"}) {
    std::string parts;
    for (const auto& [k, v] : rep.at(key).items())
      if (num(v) > 0) parts += " " + std::string(k) + "=" + std::to_string(static_cast<long long>(num(v)));
    if (!parts.empty()) os << "  " << key << ":" << parts << "\n";
  }
  for (const auto& [reason, n] : rep.at("failure_reasons").items())
    os << "  tracker said \"" << std::string_view(reason) << "\" " << static_cast<long long>(num(n)) << " time(s)\n";
  const auto& gen = rep.at("generator");
  std::snprintf(line, sizeof line, "  generator: max lag %.1f ms, %lld requests sent >10 ms late\n",
                num(gen.at("max_lag_ms")), static_cast<long long>(num(gen.at("late_requests"))));
  os << line;
  return os.str();
}

std::string write_chart(const Json& rep, const std::string& png_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec) / ("otaswarm-chart-" + std::to_string(::getpid()));
  fs::create_directories(dir, ec);
  if (ec) return "cannot create a temporary directory: " + ec.message();
  fs::path data = dir / "timeline.dat", script = dir / "chart.gp";
  {
    std::ofstream d(data);
    d << "# second offered answered p99_ms\n";
    for (const auto& v : rep.at("timeline")) {
      const auto& t = v;
      d << num(t.at("t")) + 0.5 << ' ' << num(t.at("offered")) << ' ' << num(t.at("answered")) << ' '
        << num(t.at("p99_ms")) << '\n';
    }
  }
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
  };
  {
    std::ofstream g(script);
    g << "set terminal pngcairo size 960,540 noenhanced\n"
      << "set output " << quote(png_path) << "\n"
      << "set title " << quote(rep.at("protocol").get<std::string>() + " announces on " +
                               rep.at("tracker").get<std::string>()) << "\n"
      << "set xlabel 'seconds since start'\nset ylabel 'announces/s'\nset y2label 'p99 latency (ms)'\n"
      << "set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\nset key top left\nset grid\n"
      << "plot " << quote(data.string()) << " using 1:2 with lines lw 2 title 'offered', "
      << quote(data.string()) << " using 1:3 with lines lw 2 title 'answered', "
      << quote(data.string()) << " using 1:4 axes x1y2 with linespoints title 'p99 latency'\n";
  }
  std::string script_arg = script.string();
  char* argv[] = {const_cast<char*>("gnuplot"), script_arg.data(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv, environ);
  std::string err;
  if (rc != 0) {
    err = "cannot run gnuplot (install gnuplot-nox)";
  } else {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) err = "gnuplot failed on " + script_arg;
  }
  if (err.empty()) fs::remove_all(dir, ec);
  return err;
}

}  // namespace otaswarm::loadtest
