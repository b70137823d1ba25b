// Placeholder until the rendezvous lands (issue 4).
#include <iostream>

#include "tracker/cli/commands.h"

namespace otaswarm::cli {
int turn_credentials(const Args&) {
  std::cerr << "otaswarm: turn credentials: not implemented yet\n";
  return 1;
}
}  // namespace otaswarm::cli
