#include <iostream>

#include "loadtest/commands.h"

namespace otaswarm::loadtest {

int swarm_command(const Args&) {
  std::cerr << "otaswarm-loadtest swarm: not implemented yet (the swarm simulator is issue 6's second part)\n";
  return 2;
}

}  // namespace otaswarm::loadtest
