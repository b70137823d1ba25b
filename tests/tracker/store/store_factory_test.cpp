// --store URLs become the right store; anything else is refused with the reason.
#include "tracker/store/store_factory.h"

#include <gtest/gtest.h>

#include "tracker/store/memory_store.h"
#include "tracker/store/redis_store.h"
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
  EXPECT_NE(dynamic_cast<store::RedisStreamStore*>(red.get()), nullptr) << "streams are the default";
  auto lua = make_store("redis-cluster://127.0.0.1:1,127.0.0.1:2?store=lua", {}, clock, nullptr, error);
  ASSERT_NE(lua, nullptr) << error;
  EXPECT_NE(dynamic_cast<store::RedisStore*>(lua.get()), nullptr);
  auto streams = make_store("redis://:pa?ss@127.0.0.1:1?store=streams", {}, clock, nullptr, error);
  ASSERT_NE(streams, nullptr) << error;
  EXPECT_NE(dynamic_cast<store::RedisStreamStore*>(streams.get()), nullptr);
}

TEST(StoreFactory, BadUrlsAreRefusedWithAReason) {
  ManualClock clock;
  for (const char* bad : {"postgres://x", "redis://", "redis://h:notaport", "", "memory://", "redis://h:1?store=x"}) {
    std::string error;
    EXPECT_EQ(make_store(bad, {}, clock, nullptr, error), nullptr) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
}  // namespace otaswarm
