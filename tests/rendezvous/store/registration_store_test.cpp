#include "rendezvous/store/registration_store.h"

#include <gtest/gtest.h>

#include <string>

#include "common/net.h"

namespace otaswarm::rendezvous {
namespace {

Endpoint ep(const char* text) {
  auto hp = net::parse_host_port(text);
  return Endpoint{hp->address, hp->port};
}

TEST(MemoryRegistrationStore, PutGetExpireAndEndpointIndex) {
  MemoryRegistrationStore s(2);
  Registration r{"dev-a", std::string(20, 'h'), ep("198.51.100.1:4000"), {}, {}, "local", 0, 1000};
  EXPECT_TRUE(s.put(r, 0));
  EXPECT_TRUE(s.get("dev-a", 500));
  EXPECT_TRUE(s.find_by_endpoint(std::string(20, 'h'), ep("198.51.100.1:4000"), 500));
  EXPECT_FALSE(s.find_by_endpoint(std::string(20, 'x'), ep("198.51.100.1:4000"), 500));
  EXPECT_FALSE(s.get("dev-a", 1001));
  r.device_id = "dev-b";
  EXPECT_TRUE(s.put(r, 0));
  r.device_id = "dev-c";
  EXPECT_FALSE(s.put(r, 0));  // full of live registrations
  EXPECT_TRUE(s.put(r, 2000));  // the expired ones make room
  EXPECT_EQ(s.size(), 1u);
}

TEST(MemoryRegistrationStore, PublishReachesOnlyTheNamedReplica) {
  MemoryRegistrationStore s(10);
  int a = 0, b = 0;
  s.subscribe("a", [&](const Notice&) { ++a; });
  s.subscribe("b", [&](const Notice&) { ++b; });
  s.publish(Notice{"b", 0, ep("192.0.2.1:1"), "x"});
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
}

}  // namespace
}  // namespace otaswarm::rendezvous
