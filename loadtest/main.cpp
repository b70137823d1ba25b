// otaswarm-loadtest: flash-crowd load generator (`load`) and swarm simulator (`swarm`).
#include <iostream>

#include "common/config.h"
#include "loadtest/load/load_command.h"
#include "loadtest/swarm/swarm.h"

namespace {
constexpr const char* kUsage = R"(usage: otaswarm-loadtest COMMAND ...
commands:
  load --tracker udp://ip:port[/announce[/TOKEN]]|http://ip:port[/announce[/TOKEN]] --rate R --duration S
       [--ramp S] [--phones N] [--threads N] [--token-key-file F] [--info-hash HEX ...|--torrent F]
       [--source-ips CIDR] [--json] [--chart OUT.png] ...   (see `load --help`)
  swarm --scenario NAME --policy POLICY [--seed N] [--json] ...   (see `swarm --help`, `swarm --list`)
)";
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto rc = otaswarm::config::top_level_usage(args, kUsage)) return *rc;
  std::vector<std::string> rest(args.begin() + 1, args.end());
  return otaswarm::config::guarded_main([&]() -> int {
    if (args[0] == "load") return otaswarm::loadtest::load_command(rest);
    if (args[0] == "swarm") return otaswarm::sim::run_swarm(rest);
    std::cerr << "otaswarm-loadtest: unknown command '" << args[0] << "'\n" << kUsage;
    return 2;
  });
}
