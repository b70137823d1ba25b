#pragma once
// Registered releases: only these swarms are tracked. Each release is stored as its
// .torrent under <data-dir>/releases/ (write temp → fsync → rename → fsync dir), so a
// crash mid-write never leaves a half-written release and a 201 means it is on disk.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tracker/origin_planner.h"
#include "tracker/store/memory_store.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm {

struct Release {
  store::InfoHash info_hash{};
  std::string name;
  uint64_t length = 0;
  uint64_t piece_length = 0;
  uint32_t pieces = 0;
  std::vector<std::string> webseeds;
  std::vector<std::string> trackers;
  std::string torrent;  // raw .torrent bytes
  OriginPolicy origin;  // origin pacing (set through the admin API; paced by default)
};

struct ParsedTorrent {
  std::optional<Release> release;
  std::string error;
};

// Validates a .torrent (torrent::parse: v1 info dict, consistent lengths, at most
// torrent::kMaxTorrentBytes) and requires the private flag.
ParsedTorrent parse_torrent(std::string_view bytes);

// Where releases persist. Embedded mode: files in the data dir; Redis later.
class ReleasePersistence {
 public:
  virtual ~ReleasePersistence() = default;
  virtual bool save(const Release& r, std::string& error) = 0;
  virtual bool remove(const store::InfoHash& h, std::string& error) = 0;
  // The release's origin policy, next to its .torrent (a release without one is paced by default).
  virtual bool save_origin(const store::InfoHash& h, const OriginPolicy& p, std::string& error) = 0;
  virtual std::vector<Release> load_all() = 0;
  // nullopt when the backend could not be read (unlike an empty registry).
  virtual std::optional<std::vector<Release>> try_load_all() { return load_all(); }
  // Reads one release without blocking the caller: `done(ok, release)` runs exactly once,
  // later, on any thread (ok = the backend answered; release empty = not registered).
  // Only called when reads_through(); files cannot gain a release behind this process's back.
  using FetchDone = std::function<void(bool ok, std::optional<Release>)>;
  virtual bool reads_through() const { return false; }
  virtual void fetch_async(const store::InfoHash& h, FetchDone done) { (void)h, done(true, std::nullopt); }
};

class FileReleasePersistence final : public ReleasePersistence {
 public:
  explicit FileReleasePersistence(std::string data_dir);
  // Creates the directory; false + error when it cannot be created or written.
  bool init(std::string& error);
  bool save(const Release& r, std::string& error) override;
  bool remove(const store::InfoHash& h, std::string& error) override;
  bool save_origin(const store::InfoHash& h, const OriginPolicy& p, std::string& error) override;
  std::vector<Release> load_all() override;

 private:
  std::string dir_;
};

class ReleaseRegistry {
 public:
  explicit ReleaseRegistry(ReleasePersistence* persistence) : persistence_(persistence) {}
  void load();
  // Replaces the cache with what persistence holds (releases registered by other replicas);
  // keeps the cache when persistence cannot be read or changed locally meanwhile.
  bool refresh();
  enum class AddResult { created, exists, storage_error };
  AddResult add(const Release& r, std::string& error);
  bool remove(const store::InfoHash& h, std::string& error);
  bool contains(const store::InfoHash& h) const;
  // Persists, then publishes; false + error when unknown ("not found") or not durable.
  bool set_origin_policy(const store::InfoHash& h, const OriginPolicy& p, std::string& error);
  // Cheap on the announce path (no copy of the .torrent); nullopt when not registered.
  std::optional<OriginPolicy> origin_policy(const store::InfoHash& h) const;
  // Read-through for a hash that contains() does not know: another replica may have
  // registered it a moment ago. Returns false when the answer is "unknown" at once (no
  // backend read, a recent miss in the negative cache, or too many reads in flight);
  // otherwise `done(known)` runs exactly once, later, on the backend's thread. Concurrent
  // lookups of one hash share one read.
  bool lookup_async(const store::InfoHash& h, std::function<void(bool)> done);
  static constexpr auto kNegativeTtl = std::chrono::milliseconds(500);
  static constexpr size_t kNegativeMax = 65536;     // entries; cleared wholesale when full
  static constexpr size_t kMaxLookupsInFlight = 64;  // distinct hashes read at once
  std::optional<Release> get(const store::InfoHash& h) const;
  std::vector<Release> list() const;
  size_t size() const;

 private:
  ReleasePersistence* persistence_;
  mutable std::shared_mutex mu_;
  std::atomic<uint64_t> local_changes_{0};
  std::unordered_map<store::InfoHash, std::shared_ptr<const Release>, store::InfoHashHasher> releases_;
  std::mutex lookup_mu_;
  std::unordered_map<store::InfoHash, std::chrono::steady_clock::time_point, store::InfoHashHasher> misses_;
  std::unordered_map<store::InfoHash, std::vector<std::function<void(bool)>>, store::InfoHashHasher> lookups_;
};

}  // namespace otaswarm
