// Placeholder: being written.
#include <iostream>
#include "tracker/cli/commands.h"
namespace otaswarm::cli {
int release_command(const std::string&, const Args&) { std::cerr << "not implemented\n"; return 1; }
}
