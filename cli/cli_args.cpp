#include "cli/cli_args.h"

namespace otaswarm::cli {

ParsedArgs parse_args(const config::Schema& schema, const Args& args,
                      const std::map<std::string, std::string>& aliases) {
  ParsedArgs out;
  Args flags;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (auto it = aliases.find(a); it != aliases.end()) a = it->second;
    if (flags_ended || a == "-" || a.empty() || a[0] != '-') {
      out.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      flags_ended = true;
      continue;
    }
    flags.push_back(a);
    if (a == "--help" || a == "-h" || a.rfind("--", 0) != 0 || a.find('=') != std::string::npos) continue;
    std::string name = a.substr(2);
    for (char& c : name)
      if (c == '_') c = '-';
    const config::Option* opt = schema.find(name);
    // A value-taking flag consumes the next word even if it looks positional.
    bool takes_value = name == "config" || (opt && opt->kind != config::Kind::boolean);
    if (takes_value && i + 1 < args.size()) flags.push_back(args[++i]);
  }
  auto r = config::parse(schema, flags);
  out.values = std::move(r.values);
  out.help_requested = r.help_requested;
  return out;
}

void expect_positional(const ParsedArgs& p, size_t n, const std::string& what) {
  if (p.positional.size() < n) throw config::ConfigError(what, "missing (see --help)");
  if (p.positional.size() > n)
    throw config::ConfigError(p.positional[n], "unexpected extra argument (see --help)");
}

std::string required(const config::Values& v, const std::string& key) {
  if (!v.has(key)) throw config::ConfigError(key, "is required (see --help)");
  return v.str(key);
}

}  // namespace otaswarm::cli
