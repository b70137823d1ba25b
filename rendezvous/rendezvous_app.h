#pragma once
// otaswarm-rendezvous: configuration schema and the process lifecycle.
#include "common/config.h"

namespace otaswarm::rendezvous {

config::Schema rendezvous_schema();
// Runs the rendezvous until SIGTERM/SIGINT; returns the exit code. Throws ConfigError.
int run_rendezvous(const config::Values& values);

}  // namespace otaswarm::rendezvous
