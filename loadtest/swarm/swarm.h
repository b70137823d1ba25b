#pragma once
// `otaswarm-loadtest swarm`: argument handling, one simulated release per call, JSON or table out.
#include <string>
#include <vector>

#include "loadtest/swarm/engine.h"

namespace otaswarm::sim {

// Returns the process exit code; bad arguments throw config::ConfigError.
int run_swarm(const std::vector<std::string>& args);

std::string to_json(const Result& r, const Calibration& cal);
std::string to_table(const Result& r, double wall_seconds);

}  // namespace otaswarm::sim
