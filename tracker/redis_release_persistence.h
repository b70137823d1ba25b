#pragma once
// Releases in Redis: one hash (info-hash hex → .torrent bytes), so every tracker replica,
// including one started later, sees every release. In a cluster a save is acknowledged only
// once a replica has it too (WAIT), so a failover right after a 201 cannot lose the release.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "common/redis/client.h"
#include "tracker/release_registry.h"

namespace otaswarm {

struct RedisReleaseOptions {
  std::string key = "os:releases";
  std::string origin_key = "os:releases:origin";  // info-hash hex → origin policy JSON
  int min_replicas = 0;  // WAIT for this many replicas after each write (1 in a cluster)
  std::chrono::milliseconds write_timeout{2000};
  std::chrono::milliseconds load_timeout{5000};
  std::chrono::milliseconds fetch_timeout{300};
};

class RedisReleasePersistence final : public ReleasePersistence {
 public:
  RedisReleasePersistence(std::unique_ptr<redis::Client> client, RedisReleaseOptions opts);
  bool save(const Release& r, std::string& error) override;
  bool remove(const store::InfoHash& h, std::string& error) override;
  bool save_origin(const store::InfoHash& h, const OriginPolicy& p, std::string& error) override;
  std::vector<Release> load_all() override;
  std::optional<std::vector<Release>> try_load_all() override;
  bool reads_through() const override { return true; }
  // HGET of one field, asynchronous on the client's thread (the read-through of an unknown hash).
  void fetch_async(const store::InfoHash& h, FetchDone done) override;

 private:
  bool replicated(std::string& error);

  std::unique_ptr<redis::Client> client_;
  RedisReleaseOptions opts_;
};

// Reloads the registry from its persistence every `period` on its own thread, so releases
// registered on other replicas show up here without blocking an I/O thread.
class ReleaseRefresher {
 public:
  ReleaseRefresher(ReleaseRegistry& registry, std::chrono::milliseconds period);
  ~ReleaseRefresher();

 private:
  ReleaseRegistry& registry_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace otaswarm
