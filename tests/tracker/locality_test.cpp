// Locality of an announcing peer: LAN keys from (public IP, LAN hint), ISP/region from a signed
// icode before the ALTO map, and reloads that keep the old data when the new file is bad.
#include "tracker/locality.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/config.h"
#include "common/proto/icode.h"

namespace otaswarm {
namespace {

net::Address ip(const char* s) { return *net::parse_address(s); }

std::string write_map(const std::string& name, const std::string& json) {
  auto path = testing::TempDir() + "/" + name;
  std::ofstream(path) << json;
  return path;
}

constexpr const char* kMap = R"({"network-map": {"ispa.eu-west": {"ipv4": ["198.51.100.0/24"]},
                                                "ispb": {"ipv4": ["203.0.113.0/24"]}}})";

TEST(BasicLocality, LanKeyNeedsTheSamePublicAddressAndHint) {
  BasicLocality loc;
  auto a = loc.resolve(ip("203.0.113.5"), "gw-hash-1", "");
  EXPECT_NE(a.lan, 0u);
  EXPECT_EQ(a.lan, loc.resolve(ip("203.0.113.5"), "gw-hash-1", "").lan);
  EXPECT_EQ(a.lan, loc.resolve(ip("::ffff:203.0.113.5"), "gw-hash-1", "").lan);  // mapped IPv4 is IPv4
  EXPECT_NE(a.lan, loc.resolve(ip("203.0.113.5"), "gw-hash-2", "").lan);  // another LAN behind the same CGN address
  EXPECT_NE(a.lan, loc.resolve(ip("203.0.113.6"), "gw-hash-1", "").lan);
  EXPECT_EQ(loc.resolve(ip("203.0.113.5"), "", "").lan, 0u);  // no hint: no pairing by default
  EXPECT_EQ(a.isp, 0u);
  EXPECT_EQ(a.region, 0u);
}

TEST(BasicLocality, WithoutRequiredHintThePublicAddressAloneGroups) {
  BasicLocality loc(/*require_lan_hint=*/false);
  auto a = loc.resolve(ip("203.0.113.5"), "", "");
  EXPECT_NE(a.lan, 0u);
  EXPECT_EQ(a.lan, loc.resolve(ip("203.0.113.5"), "", "").lan);
}

TEST(LocalityId, StableNonZeroAndKindSeparated) {
  EXPECT_EQ(locality_id("isp", ""), 0u);
  EXPECT_NE(locality_id("isp", "AS64501"), 0u);
  EXPECT_EQ(locality_id("isp", "AS64501"), locality_id("isp", "AS64501"));
  EXPECT_NE(locality_id("isp", "eu"), locality_id("region", "eu"));
}

TEST(LocalityService, IcodeWinsOverTheMapAndForgedIcodesAreIgnored) {
  ManualClock clock;
  LocalityOptions o;
  o.map_path = write_map("locality_test_map.json", kMap);
  o.icode_keys = token::KeyRing("icode-key");
  o.clock = &clock;
  LocalityService loc(o);

  auto from_map = loc.describe(ip("198.51.100.9"), "");
  EXPECT_EQ(from_map.source, "alto");
  EXPECT_EQ(from_map.isp, "ispa");
  EXPECT_EQ(from_map.region, "eu-west");
  auto no_region = loc.describe(ip("203.0.113.9"), "");
  EXPECT_EQ(no_region.isp, "ispb");
  EXPECT_EQ(no_region.region, "");
  EXPECT_EQ(loc.describe(ip("10.1.2.3"), "").source, "none");

  auto code = icode::mint("icode-key", {"ispc", "ap-south", clock.unix_seconds() + 3600});
  auto from_icode = loc.describe(ip("198.51.100.9"), code);
  EXPECT_EQ(from_icode.source, "icode");
  EXPECT_EQ(from_icode.isp, "ispc");
  auto r = loc.resolve(ip("198.51.100.9"), "hint", code);
  EXPECT_EQ(r.isp, locality_id("isp", "ispc"));
  EXPECT_EQ(r.region, locality_id("region", "ap-south"));
  EXPECT_NE(r.lan, 0u);

  auto forged = icode::mint("another-key", {"ispc", "ap-south", clock.unix_seconds() + 3600});
  EXPECT_EQ(loc.describe(ip("198.51.100.9"), forged).source, "alto");
  clock.advance_seconds(7200);  // the real code has expired
  EXPECT_EQ(loc.describe(ip("198.51.100.9"), code).source, "alto");
}

TEST(LocalityService, BadReloadKeepsThePreviousMap) {
  LocalityOptions o;
  o.map_path = write_map("locality_test_reload.json", kMap);
  LocalityService loc(o);
  EXPECT_EQ(loc.describe(ip("198.51.100.9"), "").isp, "ispa");

  write_map("locality_test_reload.json", "{ not json");
  std::string error;
  EXPECT_FALSE(loc.reload(error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(loc.describe(ip("198.51.100.9"), "").isp, "ispa");
  EXPECT_EQ(loc.reloads(), 0u);

  write_map("locality_test_reload.json", R"({"network-map": {"ispz": {"ipv4": ["198.51.100.0/24"]}}})");
  EXPECT_TRUE(loc.reload(error)) << error;
  EXPECT_EQ(loc.describe(ip("198.51.100.9"), "").isp, "ispz");
  EXPECT_EQ(loc.reloads(), 1u);
}

TEST(LocalityService, UnreadableFilesAreConfigErrorsNamingTheKey) {
  LocalityOptions o;
  o.map_path = "/nonexistent/map.json";
  try {
    LocalityService loc(o);
    FAIL() << "no error for a missing map";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.key(), "locality-map");
    EXPECT_NE(std::string(e.what()).find("/nonexistent/map.json"), std::string::npos) << e.what();
  }
  LocalityOptions m;
  m.mmdb_path = "/nonexistent/asn.mmdb";
  try {
    LocalityService loc(m);
    FAIL() << "no error for a missing mmdb";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.key(), "locality-mmdb");
    EXPECT_NE(std::string(e.what()).find("/nonexistent/asn.mmdb"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace otaswarm
