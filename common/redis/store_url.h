#pragma once
// The --store URL of both servers: "memory", "redis://host:port" or
// "redis-cluster://host:port,host:port,...", and the Redis client it names.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/redis/client.h"

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

}  // namespace otaswarm
