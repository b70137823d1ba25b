#include "common/metrics.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace otaswarm::metrics {

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.count = acc;  // consistent with the buckets even while observations race
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels) {
  std::lock_guard lk(mu_);
  counters_.push_back(std::make_unique<Family<Counter>>(name, help, std::move(labels),
                                                        [] { return std::make_unique<Counter>(); }));
  return *counters_.back();
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lk(mu_);
  gauges_.push_back(
      std::make_unique<Family<Gauge>>(name, help, std::move(labels), [] { return std::make_unique<Gauge>(); }));
  return *gauges_.back();
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard lk(mu_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      name, help, std::move(labels), [bounds] { return std::make_unique<Histogram>(bounds); }));
  return *histograms_.back();
}

void Registry::callback(const std::string& name, const std::string& help, std::function<std::vector<Sample>()> fn,
                        bool is_counter) {
  std::lock_guard lk(mu_);
  callbacks_.push_back({name, help, is_counter, std::move(fn)});
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

namespace {

std::string label_block(const std::vector<std::string>& names, const std::vector<std::string>& values,
                        const std::string& extra_name = {}, const std::string& extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) out += ",";
    first = false;
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += extra_name + "=\"" + escape_label_value(extra_value) + "\"";
  }
  out += "}";
  return out;
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string Registry::expose() const {
  std::lock_guard lk(mu_);
  std::string out;
  for (const auto& f : counters_) {
    // The family name carries the _total suffix already, per OpenMetrics/promtool conventions.
    header(out, f->name(), f->help(), "counter");
    f->for_each([&](const std::vector<std::string>& vals, const Counter& c) {
      out += f->name() + label_block(f->label_names(), vals) + " " + std::to_string(c.value()) + "\n";
    });
  }
  for (const auto& f : gauges_) {
    header(out, f->name(), f->help(), "gauge");
    f->for_each([&](const std::vector<std::string>& vals, const Gauge& g) {
      out += f->name() + label_block(f->label_names(), vals) + " " + format_double(g.value()) + "\n";
    });
  }
  for (const auto& f : histograms_) {
    header(out, f->name(), f->help(), "histogram");
    f->for_each([&](const std::vector<std::string>& vals, const Histogram& h) {
      auto s = h.snapshot();
      for (size_t i = 0; i < h.bounds().size(); ++i)
        out += f->name() + "_bucket" + label_block(f->label_names(), vals, "le", format_double(h.bounds()[i])) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      out += f->name() + "_bucket" + label_block(f->label_names(), vals, "le", "+Inf") + " " +
             std::to_string(s.cumulative.back()) + "\n";
      out += f->name() + "_sum" + label_block(f->label_names(), vals) + " " + format_double(s.sum) + "\n";
      out += f->name() + "_count" + label_block(f->label_names(), vals) + " " + std::to_string(s.count) + "\n";
    });
  }
  for (const auto& cb : callbacks_) {
    header(out, cb.name, cb.help, cb.is_counter ? "counter" : "gauge");
    for (const auto& s : cb.fn()) {
      std::vector<std::string> names, vals;
      for (const auto& [k, v] : s.labels) {
        names.push_back(k);
        vals.push_back(v);
      }
      out += cb.name + label_block(names, vals) + " " + format_double(s.value) + "\n";
    }
  }
  return out;
}

}  // namespace otaswarm::metrics
