// Placeholder: being written.
#include <iostream>
#include "tracker/cli/commands.h"
namespace otaswarm::cli {
int token_mint(const Args&) { std::cerr << "not implemented\n"; return 1; }
}
