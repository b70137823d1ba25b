// ALTO network maps (RFC 7285 §11.2.1): parsing, longest-prefix match, and every malformed part
// refused with a reason.
#include "tracker/alto.h"

#include <gtest/gtest.h>

#include <fstream>

namespace otaswarm::alto {
namespace {

net::Address ip(const char* s) { return *net::parse_address(s); }

constexpr const char* kMap = R"({
  "meta": {"vtag": {"resource-id": "my-default-network-map", "tag": "da65eca2eb7a10ce8b059740b0b2e3f8eb1d4785"}},
  "network-map": {
    "ispa.eu-west": {"ipv4": ["198.51.100.0/24", "192.0.2.0/25"], "ipv6": ["2001:db8:100::/48"]},
    "ispa.eu-west-small": {"ipv4": ["198.51.100.128/25"]},
    "ispb": {"ipv4": ["203.0.113.0/24"], "ipv6": ["2001:db8::/32"]}
  }
})";

TEST(NetworkMap, LongestPrefixWinsForBothFamilies) {
  std::string error;
  auto m = NetworkMap::parse(kMap, error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->pid_count(), 3u);
  EXPECT_EQ(m->prefix_count(), 6u);
  EXPECT_EQ(m->vtag(), "da65eca2eb7a10ce8b059740b0b2e3f8eb1d4785");
  ASSERT_NE(m->lookup(ip("198.51.100.7")), nullptr);
  EXPECT_EQ(*m->lookup(ip("198.51.100.7")), "ispa.eu-west");
  EXPECT_EQ(*m->lookup(ip("198.51.100.200")), "ispa.eu-west-small");  // the /25 inside the /24
  EXPECT_EQ(*m->lookup(ip("192.0.2.1")), "ispa.eu-west");
  EXPECT_EQ(m->lookup(ip("192.0.2.200")), nullptr);  // outside the /25
  EXPECT_EQ(*m->lookup(ip("2001:db8:100::1")), "ispa.eu-west");  // /48 inside ispb's /32
  EXPECT_EQ(*m->lookup(ip("2001:db8:200::1")), "ispb");
  EXPECT_EQ(m->lookup(ip("10.0.0.1")), nullptr);
  EXPECT_EQ(*m->lookup(ip("::ffff:203.0.113.9")), "ispb");  // IPv4-mapped IPv6 is IPv4
}

TEST(NetworkMap, RefusesMalformedMapsWithAReason) {
  struct Case {
    const char* json;
    const char* error;
  } cases[] = {
      {"{", "not valid JSON"},
      {"[]", "top level must be a JSON object"},
      {R"({"meta": {}})", "missing \"network-map\""},
      {R"({"network-map": {"a": []}})", "must map to an object"},
      {R"({"network-map": {"a": {"ipv5": []}}})", "unknown address type"},
      {R"({"network-map": {"a": {"ipv4": "1.2.3.0/24"}}})", "must be an array"},
      {R"({"network-map": {"a": {"ipv4": [24]}}})", "prefixes must be strings"},
      {R"({"network-map": {"a": {"ipv4": ["2001:db8::/32"]}}})", "bad ipv4 prefix"},
      {R"({"network-map": {"a": {"ipv4": ["1.2.3.0/33"]}}})", "bad ipv4 prefix"},
      {R"({"network-map": {"a": {"ipv4": ["1.2.3.0/24"]}, "b": {"ipv4": ["1.2.3.0/24"]}}})", "is in two PIDs"},
      {R"({"network-map": {"": {"ipv4": []}}})", "invalid PID name"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(NetworkMap::parse(c.json, error)) << c.json;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.json << " → " << error;
  }
}

TEST(NetworkMap, LoadFileReportsAMissingFile) {
  std::string error;
  EXPECT_FALSE(NetworkMap::load_file("/nonexistent/otaswarm-map.json", error));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
  auto path = testing::TempDir() + "/alto_test_map.json";
  std::ofstream(path) << kMap;
  auto m = NetworkMap::load_file(path, error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->pid_count(), 3u);
}

}  // namespace
}  // namespace otaswarm::alto
