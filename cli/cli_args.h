#pragma once
// Argument handling shared by the `otaswarm` subcommands: positional words are split from
// --flags (which common/config parses against a Schema), and usage errors become a
// config::ConfigError so every command fails the same way (one line, exit 2).
#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "cli/commands.h"

namespace otaswarm::cli {

struct ParsedArgs {
  std::vector<std::string> positional;
  config::Values values;
  bool help_requested = false;
};

// `aliases` maps short flags to long ones (e.g. "-o" → "--output"). A lone "--" ends flags.
ParsedArgs parse_args(const config::Schema& schema, const Args& args,
                      const std::map<std::string, std::string>& aliases = {});

// Throws ConfigError(`what`) unless exactly `n` positional words were given.
void expect_positional(const ParsedArgs& p, size_t n, const std::string& what);

// Throws ConfigError(key, "is required") when the option has no value.
std::string required(const config::Values& v, const std::string& key);

}  // namespace otaswarm::cli
