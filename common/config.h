#pragma once
// Configuration: a schema of named options, filled from a TOML file (--config) and then
// from command-line flags (flags win). Every key works in both places; in TOML a key may
// be written with '-' or '_' and nested tables flatten with '-' ([udp] listen → udp-listen).
// Any problem raises ConfigError naming the key; servers exit 2 with one line on stderr.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace otaswarm::config {

enum class Kind { string, integer, number, boolean, list };

struct Option {
  std::string name;
  Kind kind = Kind::string;
  std::string help;
  std::vector<std::string> defaults;  // list defaults; scalars use defaults[0]
};

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& problem)
      : std::runtime_error(problem), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

class Schema {
 public:
  Schema(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}
  Schema& add(std::string name, Kind kind, std::string help, std::vector<std::string> defaults = {});
  const Option* find(const std::string& name) const;
  std::string help_text() const;
  const std::vector<Option>& options() const { return options_; }

 private:
  std::string program_, summary_;
  std::vector<Option> options_;
};

class Values {
 public:
  std::string str(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t min, int64_t max) const;
  double number(const std::string& key, double min, double max) const;
  bool boolean(const std::string& key) const;
  std::vector<std::string> list(const std::string& key) const;
  bool has(const std::string& key) const;  // set explicitly or has a non-empty default
  void set(const std::string& key, std::vector<std::string> v) { values_[key] = std::move(v); }

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

struct ParseResult {
  Values values;
  bool help_requested = false;
};

// Parses argv (after the program name, or after a subcommand when args is a subrange).
ParseResult parse(const Schema& schema, const std::vector<std::string>& args);

// Reads a secret file (key/token): whole text, trailing newline(s) stripped; errors name `key`.
std::string read_secret_file(const std::string& key, const std::string& path);

// Runs a server main: ConfigError → one line on stderr and exit code 2.
int guarded_main(const std::function<int()>& body);

// Top-level usage of a main that dispatches on its first word: no words → usage on stderr,
// exit 2; --help, -h or help → usage on stdout, exit 0; nullopt → go on and dispatch.
std::optional<int> top_level_usage(const std::vector<std::string>& args, std::string_view usage);

}  // namespace otaswarm::config
