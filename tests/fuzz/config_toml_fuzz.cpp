// Config files: any TOML text either parses into the schema or raises ConfigError; no
// other exception, no crash. The text goes through a file because --config reads one.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/config.h"

namespace {

using namespace otaswarm::config;

Schema make_schema() {
  Schema s("otaswarm-fuzz", "fuzzed config");
  s.add("http-listen", Kind::string, "", {"0.0.0.0:6969"});
  s.add("udp-listen", Kind::list, "", {"0.0.0.0:6969"});
  s.add("threads", Kind::integer, "", {"2"});
  s.add("interval-jitter", Kind::number, "", {"0.1"});
  s.add("open", Kind::boolean, "", {"false"});
  s.add("store", Kind::string, "", {"memory"});
  return s;
}

std::string temp_path() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/otaswarm-config-fuzz-" + std::to_string(::getpid()) + ".toml";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Schema schema = make_schema();
  static const std::string path = temp_path();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  // Removed on every way out, so replays in ordinary test runs leave nothing in /tmp.
  struct Unlink {
    const std::string& p;
    ~Unlink() { std::remove(p.c_str()); }
  } unlink_after{path};
  try {
    auto r = parse(schema, {"--config", path});
    // Typed reads either succeed or name the key.
    try { r.values.integer("threads", 1, 1024); } catch (const ConfigError&) {}
    try { r.values.number("interval-jitter", 0, 1); } catch (const ConfigError&) {}
    try { r.values.boolean("open"); } catch (const ConfigError&) {}
    r.values.list("udp-listen");
  } catch (const ConfigError& e) {
    if (e.key().empty()) std::abort();
  }
  return 0;
}
