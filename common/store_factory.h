#pragma once
// Builds the swarm store named by --store: "memory", "redis://host:port" or
// "redis-cluster://host:port,host:port,...".
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/memory_store.h"
#include "common/metrics.h"
#include "common/redis/client.h"
#include "common/store.h"

namespace otaswarm {

inline constexpr uint16_t kDefaultRedisPort = 6379;

struct StoreUrl {
  enum class Kind { memory, redis, redis_cluster };
  Kind kind = Kind::memory;
  std::vector<redis::Endpoint> nodes;
  std::string username, password;  // from redis://[user][:password@]host:port (percent-decoded)
};

// nullopt + error on anything but the three forms above (credentials allowed before the hosts).
std::optional<StoreUrl> parse_store_url(const std::string& url, std::string& error);

// A Redis client for the URL (also for the release registry); nullptr for the memory store.
std::unique_ptr<redis::Client> make_redis_client(const StoreUrl& url);

std::unique_ptr<store::SwarmStore> make_store(const std::string& url, const store::MemoryStoreOptions& opts,
                                              const Clock& clock, metrics::Registry* metrics, std::string& error);

}  // namespace otaswarm
