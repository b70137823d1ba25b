#pragma once
// otaswarm-tracker: configuration schema and the process lifecycle.
#include <string>
#include <vector>

#include "common/config.h"

namespace otaswarm {

config::Schema tracker_schema();
// Runs the tracker until SIGTERM/SIGINT; returns the exit code. Throws ConfigError.
int run_tracker(const config::Values& values);

}  // namespace otaswarm
