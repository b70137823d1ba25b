// `otaswarm token mint`: a device token (common/proto/token.h, docs/tokens.md) from the shared key.
#include <iostream>

#include "common/clock.h"
#include "common/config.h"
#include "common/proto/token.h"
#include "cli/cli_args.h"
#include "cli/commands.h"

namespace otaswarm::cli {

namespace {
constexpr int64_t kDefaultTtlSeconds = 7 * 24 * 3600;  // one release roll-out
constexpr int64_t kMaxTtlSeconds = 366 * 24 * 3600;    // longer-lived tokens defeat expiry

constexpr const char* kHelp = R"(usage: otaswarm token mint --key-file F --device ID [--ttl SECONDS]
Prints a device token for ID, valid for --ttl seconds (default 604800 = 7 days, at most
one year), signed with the HMAC key in F (the tracker's --token-key-file). Format:
docs/tokens.md.
)";
}  // namespace

int token_mint(const Args& args) {
  config::Schema schema("otaswarm token mint", "Mint a device token.");
  schema.add("key-file", config::Kind::string, "file holding the shared token key")
      .add("device", config::Kind::string, "device id (1-128 bytes, no control characters)")
      .add("ttl", config::Kind::integer, "lifetime in seconds", {std::to_string(kDefaultTtlSeconds)});
  auto p = parse_args(schema, args);
  if (p.help_requested) {
    std::cout << kHelp;
    return 0;
  }
  expect_positional(p, 0, "");
  const std::string device = required(p.values, "device");
  if (!token::valid_device_id(device))
    throw config::ConfigError("device", "must be 1-" + std::to_string(token::kMaxDeviceIdLength) +
                                            " bytes without control characters");
  const int64_t ttl = p.values.integer("ttl", 1, kMaxTtlSeconds);
  const std::string key = config::read_secret_file("key-file", required(p.values, "key-file"));
  std::string tok = token::mint(key, device, SystemClock::instance().unix_seconds() + ttl);
  if (tok.empty()) throw config::ConfigError("device", "cannot mint a token for this device id");
  std::cout << tok << "\n";
  return 0;
}

}  // namespace otaswarm::cli
