// Placeholder until the rendezvous lands (issue 4): replaced by the real RFC 5780 probe.
#include <iostream>

#include "tracker/cli/commands.h"

namespace otaswarm::cli {
int nat_probe(const Args&) {
  std::cout << R"({"mapping":"unknown","filtering":"unknown","hairpinning":null,"public":false,"reflexive":null,"error":"not implemented"})"
            << "\n";
  return 1;
}
}  // namespace otaswarm::cli
