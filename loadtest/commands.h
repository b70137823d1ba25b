#pragma once
#include <string>
#include <vector>

namespace otaswarm::loadtest {

using Args = std::vector<std::string>;

// Each returns the process exit code; configuration problems throw config::ConfigError.
int load_command(const Args& args);
int swarm_command(const Args& args);

}  // namespace otaswarm::loadtest
