#include "tracker/store/store_factory.h"

#include "tracker/store/redis_stream_store.h"

namespace otaswarm {

std::unique_ptr<store::SwarmStore> make_store(const std::string& url, const store::MemoryStoreOptions& opts,
                                              const Clock& clock, metrics::Registry* metrics, std::string& error) {
  auto parsed = parse_store_url(url, error);
  if (!parsed) return nullptr;
  if (parsed->kind == StoreUrl::Kind::memory) {
    if (metrics)
      metrics->callback("otaswarm_store_degraded", "1 while answering from the local fallback.",
                        [] { return std::vector<metrics::Sample>{{{}, 0.0}}; });
    return std::make_unique<store::MemoryStore>(opts, clock);
  }
  store::RedisStreamStoreOptions so;
  so.memory = opts;
  return std::make_unique<store::RedisStreamStore>(make_redis_client(*parsed), so, clock, metrics);
}

}  // namespace otaswarm
