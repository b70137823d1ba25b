#pragma once
// `otaswarm-loadtest load ...`: returns the exit code; configuration problems throw config::ConfigError.
#include <string>
#include <vector>

namespace otaswarm::loadtest {

int load_command(const std::vector<std::string>& args);

}  // namespace otaswarm::loadtest
