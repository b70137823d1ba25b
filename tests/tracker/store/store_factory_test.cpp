// --store URLs become the right store; anything else is refused with the reason.
#include "tracker/store/store_factory.h"

#include <gtest/gtest.h>

#include "tracker/store/memory_store.h"
#include "tracker/store/redis_stream_store.h"

namespace otaswarm {
namespace {

TEST(StoreFactory, MemoryAndRedisUrls) {
  ManualClock clock;
  metrics::Registry reg;
  std::string error;
  auto mem = make_store("memory", {}, clock, &reg, error);
  ASSERT_NE(mem, nullptr) << error;
  EXPECT_NE(dynamic_cast<store::MemoryStore*>(mem.get()), nullptr);
  EXPECT_NE(reg.expose().find("otaswarm_store_degraded 0"), std::string::npos) << reg.expose();
  // No Redis needs to listen: the client connects lazily and the store degrades until it can.
  auto red = make_store("redis://127.0.0.1:1", {}, clock, nullptr, error);
  ASSERT_NE(red, nullptr) << error;
  EXPECT_NE(dynamic_cast<store::RedisStreamStore*>(red.get()), nullptr);
  auto cluster = make_store("redis-cluster://127.0.0.1:1,127.0.0.1:2", {}, clock, nullptr, error);
  ASSERT_NE(cluster, nullptr) << error;
  EXPECT_NE(dynamic_cast<store::RedisStreamStore*>(cluster.get()), nullptr);
}

TEST(StoreFactory, BadUrlsAreRefusedWithAReason) {
  ManualClock clock;
  for (const char* bad : {"postgres://x", "redis://", "redis://h:notaport", "", "memory://"}) {
    std::string error;
    EXPECT_EQ(make_store(bad, {}, clock, nullptr, error), nullptr) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
}  // namespace otaswarm
