#include "common/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

namespace otaswarm::config {

Schema& Schema::add(std::string name, Kind kind, std::string help, std::vector<std::string> defaults) {
  options_.push_back({std::move(name), kind, std::move(help), std::move(defaults)});
  return *this;
}

const Option* Schema::find(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name) return &o;
  return nullptr;
}

std::string Schema::help_text() const {
  std::ostringstream os;
  os << "usage: " << program_ << " [--config FILE] [--KEY VALUE ...]\n" << summary_ << "\n\noptions:\n";
  os << "  --config FILE                TOML file; every key below may appear there (flags win)\n";
  os << "  --help                       this text\n";
  for (const auto& o : options_) {
    std::string flag = "  --" + o.name;
    if (o.kind != Kind::boolean) flag += o.kind == Kind::list ? " V (repeatable)" : " V";
    if (flag.size() < 31) flag.resize(31, ' ');
    else flag += " ";
    os << flag << o.help;
    if (!o.defaults.empty()) {
      os << " [default: ";
      for (size_t i = 0; i < o.defaults.size(); ++i) os << (i ? ", " : "") << o.defaults[i];
      os << "]";
    }
    os << "\n";
  }
  return os.str();
}

std::string Values::str(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) return {};
  return it->second.back();
}

bool Values::has(const std::string& key) const {
  auto it = values_.find(key);
  return it != values_.end() && !it->second.empty() && !(it->second.size() == 1 && it->second[0].empty());
}

int64_t Values::integer(const std::string& key, int64_t min, int64_t max) const {
  std::string s = str(key);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    throw ConfigError(key, "expected an integer, got \"" + s + "\"");
  if (v < min || v > max)
    throw ConfigError(key, "value " + s + " out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

double Values::number(const std::string& key, double min, double max) const {
  std::string s = str(key);
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw ConfigError(key, "expected a number, got \"" + s + "\"");
  }
  if (!std::isfinite(v) || v < min || v > max)
    throw ConfigError(key, "value " + s + " out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

bool Values::boolean(const std::string& key) const {
  std::string s = str(key);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off" || s.empty()) return false;
  throw ConfigError(key, "expected true or false, got \"" + s + "\"");
}

std::vector<std::string> Values::list(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return {};
  std::vector<std::string> out;
  for (const auto& v : it->second)
    if (!v.empty()) out.push_back(v);
  return out;
}

namespace {

std::string normalize(std::string k) {
  for (char& c : k)
    if (c == '_') c = '-';
  return k;
}

std::string scalar_text(const toml::node& n, const std::string& key) {
  if (auto s = n.as_string()) return s->get();
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) {
    // Shortest text that reads back as the same double (ostream's default keeps 6 digits).
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, f->get());
    return std::string(buf, res.ptr);
  }
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  throw ConfigError(key, "unsupported TOML value type");
}

void load_table(const Schema& schema, const toml::table& t, const std::string& prefix,
                std::map<std::string, std::vector<std::string>>& out) {
  for (const auto& [k, node] : t) {
    std::string key = normalize(prefix.empty() ? std::string(k.str()) : prefix + "-" + std::string(k.str()));
    if (auto sub = node.as_table()) {
      load_table(schema, *sub, key, out);
      continue;
    }
    // TOML allows `"" = …`: name it so the error line still says which key is wrong.
    if (key.empty()) throw ConfigError("\"\"", "empty configuration key");
    const Option* opt = schema.find(key);
    if (!opt) throw ConfigError(key, "unknown configuration key");
    std::vector<std::string> vals;
    if (auto arr = node.as_array()) {
      if (opt->kind != Kind::list) throw ConfigError(key, "expected a single value, got an array");
      for (const auto& e : *arr) vals.push_back(scalar_text(e, key));
    } else {
      vals.push_back(scalar_text(node, key));
    }
    out[key] = std::move(vals);
  }
}

}  // namespace

ParseResult parse(const Schema& schema, const std::vector<std::string>& args) {
  ParseResult r;
  std::map<std::string, std::vector<std::string>> file_vals, flag_vals;
  std::string config_file;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      r.help_requested = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) throw ConfigError(a, "unexpected argument (flags look like --key value)");
    std::string name = a.substr(2);
    std::optional<std::string> inline_val;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_val = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    name = normalize(name);
    if (name == "config") {
      if (inline_val) config_file = *inline_val;
      else if (i + 1 < args.size()) config_file = args[++i];
      else throw ConfigError("config", "missing file name");
      continue;
    }
    const Option* opt = schema.find(name);
    if (!opt) throw ConfigError(name, "unknown option (see --help)");
    std::string val;
    if (opt->kind == Kind::boolean && !inline_val) {
      val = "true";
    } else if (inline_val) {
      val = *inline_val;
    } else {
      if (i + 1 >= args.size()) throw ConfigError(name, "missing value");
      val = args[++i];
    }
    if (opt->kind == Kind::list) flag_vals[name].push_back(val);
    else flag_vals[name] = {val};
  }

  if (!config_file.empty()) {
    try {
      toml::table t = toml::parse_file(config_file);
      load_table(schema, t, "", file_vals);
    } catch (const toml::parse_error& e) {
      std::ostringstream os;
      os << config_file << ":" << e.source().begin.line << ": " << e.description();
      throw ConfigError("config", os.str());
    }
  }

  for (const auto& o : schema.options()) r.values.set(o.name, o.defaults);
  for (auto& [k, v] : file_vals) r.values.set(k, v);
  for (auto& [k, v] : flag_vals) r.values.set(k, v);
  return r;
}

std::string read_secret_file(const std::string& key, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError(key, "cannot read file \"" + path + "\"");
  std::ostringstream os;
  os << f.rdbuf();
  std::string s = os.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) throw ConfigError(key, "file \"" + path + "\" is empty");
  if (s.size() < 16) throw ConfigError(key, "secret in \"" + path + "\" is shorter than 16 characters");
  return s;
}

int guarded_main(const std::function<int()>& body) {
  try {
    return body();
  } catch (const ConfigError& e) {
    std::cerr << "config error: key '" << e.key() << "': " << e.what() << std::endl;
    return 2;
  }
}

std::optional<int> top_level_usage(const std::vector<std::string>& args, std::string_view usage) {
  if (args.empty()) {
    std::cerr << usage;
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << usage;
    return 0;
  }
  return std::nullopt;
}

}  // namespace otaswarm::config
