// otaswarm: operator and device-side CLI.
#include <cctype>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "common/config.h"
#include "cli/commands.h"

namespace {
constexpr const char* kUsage = R"(usage: otaswarm COMMAND ...
commands:
  torrent create FILE --webseed URL [--webseed URL...] --announce URL [--announce URL...]
                 [--piece-length BYTES] [--name NAME] -o OUT.torrent
  token mint --key-file F --device ID [--ttl SECONDS]
  release add --admin URL --admin-token-file F FILE.torrent
  release list --admin URL --admin-token-file F
  release show --admin URL --admin-token-file F INFO_HASH
  release rm --admin URL --admin-token-file F INFO_HASH
  nat probe --stun HOST:PORT [--bind IP:PORT] [--timeout-ms N]
  turn credentials --rendezvous URL --token T
Run a command with --help for its options.
)";
// Usage errors name the flag (or the positional word) and exit 2; anything unexpected exits 1.
int run_guarded(const std::string& command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const otaswarm::config::ConfigError& e) {
    const std::string& k = e.key();
    bool positional = k.empty() || std::isupper(static_cast<unsigned char>(k[0])) || k.find('/') != std::string::npos;
    std::cerr << "otaswarm " << command << ": " << (positional || k.rfind("-", 0) == 0 ? k : "--" + k)
              << (k.empty() ? "" : ": ") << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "otaswarm " << command << ": " << e.what() << std::endl;
    return 1;
  }
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto rc = otaswarm::config::top_level_usage(args, kUsage)) return *rc;
  if (args.size() < 2) {
    std::cerr << "otaswarm: '" << args[0] << "' needs a subcommand\n" << kUsage;
    return 2;
  }
  const std::string group = args[0], verb = args[1];
  otaswarm::cli::Args rest(args.begin() + 2, args.end());
  return run_guarded(group + " " + verb, [&]() -> int {
    using namespace otaswarm::cli;
    if (group == "torrent" && verb == "create") return torrent_create(rest);
    if (group == "token" && verb == "mint") return token_mint(rest);
    if (group == "release") return release_command(verb, rest);
    if (group == "nat" && verb == "probe") return nat_probe(rest);
    if (group == "turn" && verb == "credentials") return turn_credentials(rest);
    std::cerr << "otaswarm: unknown command '" << group << " " << verb << "'\n" << kUsage;
    return 2;
  });
}
