// Placeholder: being written.
#include <iostream>
#include "tracker/cli/commands.h"
namespace otaswarm::cli {
int torrent_create(const Args&) { std::cerr << "not implemented\n"; return 1; }
}
