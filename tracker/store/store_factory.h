#pragma once
// Builds the swarm store named by --store (common/redis/store_url.h).
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "tracker/store/memory_store.h"
#include "common/metrics.h"
#include "common/redis/store_url.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm {

std::unique_ptr<store::SwarmStore> make_store(const std::string& url, const store::MemoryStoreOptions& opts,
                                              const Clock& clock, metrics::Registry* metrics, std::string& error);

}  // namespace otaswarm
