#include "loadtest/commands.h"
#include "loadtest/swarm/swarm.h"

namespace otaswarm::loadtest {

int swarm_command(const Args& args) { return sim::run_swarm(args); }

}  // namespace otaswarm::loadtest
