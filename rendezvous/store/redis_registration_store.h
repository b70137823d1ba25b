#pragma once
// Registrations shared by every rendezvous replica through Redis or Redis Cluster
// (docs/redis.md, "Rendezvous"). The STUN threads never wait for Redis:
//   - this replica's registrations live in a local MemoryRegistrationStore (synchronous reads) and are
//     written through asynchronously: one string per device, "<prefix>:dev:<device>", and
//     an index "<prefix>:ep:<hex info hash>:<ip:port>" → device, both with a lifetime (PX) of
//     shared_lifetime_factor × the registration's, so Redis forgets devices by itself;
//   - only a change is written (release, endpoint, LAN address, NAT class, replica, socket);
//     an unchanged refresh is answered locally and rewrites the Redis copy only once its
//     remaining lifetime falls below refresh_ahead of it, so the copy always outlives the
//     local registration. When the local registration expires (the device went away), the
//     copy is deleted if Redis still holds exactly what this replica wrote;
//   - a connect naming a device this replica does not hold asks Redis (fetch*), and the
//     handler answers when Redis has (Outcome::pending);
//   - a punch notice for a device of another replica is appended (XADD, capped) to that
//     replica's stream "<prefix>:notices:<replica>", retried when the append fails; each
//     replica reads its own stream with XREAD BLOCK on a dedicated connection, from the last
//     id it has seen, so a notice appended while it reconnects is replayed, not lost (at
//     least once: the device dedups by transaction id);
//   - a device that re-registers with another replica (its flow moved) makes the new replica
//     tell the old one to drop its local copy (SET … GET returns the previous record), so the
//     old replica asks Redis instead of answering from a stale copy.
// Redis down: registrations keep working locally (degraded: healthy() is false, errors are
// counted), connects between devices of this replica still work, and once Redis is back
// every live local registration is written again (Redis may have restarted empty).
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/metrics.h"
#include "common/redis/client.h"
#include "rendezvous/store/registration_store.h"

struct redisReply;  // hiredis

namespace otaswarm::rendezvous {

struct RedisRegistrationOptions {
  std::string key_prefix = "otaswarm:rdv";
  std::chrono::milliseconds write_timeout{1000};
  // A connect waits this long at most for the other replica's registration.
  std::chrono::milliseconds lookup_timeout{250};
  std::chrono::milliseconds publish_timeout{250};
  // Write-through requests in flight at most; beyond, a registration stays local until its
  // refresh (the device re-registers well within the TTL) or the next re-sync.
  size_t max_in_flight_writes = 16384;
  // Registrations re-written per maintain() call after an outage (two commands each).
  size_t resync_per_tick = 10000;
  // The Redis copy lives this many registration lifetimes and is rewritten by a refresh once
  // less than refresh_ahead of its lifetime is left: with 4 and 0.5 an unchanged device costs
  // two SETs per two registration lifetimes (~0.2 commands per refresh at a 25 s refresh and
  // a 120 s lifetime). factor × refresh_ahead ≥ 1 keeps the copy alive while the device refreshes.
  int shared_lifetime_factor = 4;
  double refresh_ahead = 0.5;
  // Notice streams keep about this many entries (XADD MAXLEN ~), i.e. what a reconnecting
  // reader can replay; a notice older than notice_max_age is skipped (its punch has started).
  size_t notice_stream_length = 10000;
  std::chrono::milliseconds notice_max_age{10000};
  int publish_retries = 2;
  // Notice reader connection: seeds tried in turn, backoff between attempts.
  std::vector<redis::Endpoint> subscribe_nodes;
  std::string username, password;
  std::chrono::milliseconds subscribe_backoff_min{100};
  std::chrono::milliseconds subscribe_backoff_max{2000};
};

// Wire form of a registration in Redis and of a notice in a stream entry (exposed for tests).
std::string encode_registration(const Registration& r);
std::optional<Registration> decode_registration(std::string_view s);
std::string encode_notice(const Notice& n);
std::optional<Notice> decode_notice(std::string_view s, const std::string& replica);
// "Drop your copy of this device" in a replica's notice stream; decode: the device id or nullopt.
std::string encode_eviction(const std::string& device_id);
std::optional<std::string> decode_eviction(std::string_view s);

class RedisRegistrationStore final : public RegistrationStore {
 public:
  RedisRegistrationStore(std::unique_ptr<redis::Client> client, RedisRegistrationOptions opts, std::string replica,
                         size_t max_registrations, metrics::Registry* metrics);
  ~RedisRegistrationStore() override;

  bool put(const Registration& r, int64_t now_unix_ms) override;
  std::optional<Registration> get(const std::string& device_id, int64_t now_unix_ms) override;
  std::optional<Registration> find_by_endpoint(const std::string& info_hash, const Endpoint& ep,
                                               int64_t now_unix_ms) override;
  void remove(const std::string& device_id) override;
  size_t expire(int64_t now_unix_ms) override;
  size_t size() const override;  // registrations held by this replica
  void publish(const Notice& n) override;
  void subscribe(const std::string& replica, std::function<void(const Notice&)> fn) override;

  bool shared() const override { return true; }
  void fetch(const std::string& device_id, int64_t now_unix_ms, Found cb) override;
  void fetch_by_endpoint(const std::string& info_hash, const Endpoint& ep, int64_t now_unix_ms, Found cb) override;
  bool healthy(std::string& why) const override;
  void maintain(int64_t now_unix_ms) override;

  // From now on no callback reaches the caller (pending ones are dropped, running ones are
  // waited for) and no notice is delivered; the subscriber is stopped. Call once the STUN
  // threads are joined, before what the callbacks touch goes away (the destructor does too).
  void close();
  bool subscribed() const { return subscribed_.load(); }
  std::string device_key(const std::string& device_id) const;
  std::string endpoint_key(const std::string& info_hash, const Endpoint& ep) const;
  std::string notice_stream(const std::string& replica) const;

 private:
  struct Metrics;
  // fill_only (re-sync): SET NX, never over a newer registration written meanwhile elsewhere.
  // `counted`: the writes_total reason its commands are counted under.
  void write(const Registration& r, int64_t now_unix_ms, bool fill_only, metrics::Counter* counted);
  // The device re-registered here after `old`: tell its previous replica to drop its copy.
  void evict_elsewhere(const std::string& device_id, const redis::Reply& old);
  void failed(const char* op, const redis::Result& res);
  // Registrations the local store dropped: delete the Redis copies that are still ours.
  void forget(const std::vector<Registration>& dropped);
  void forget_written(const std::string& device_id);
  void subscriber_loop();
  // Adds the notice streams of devices registered since the last call (their last id empty).
  void follow_new_streams(std::vector<std::string>& keys, std::vector<std::string>& ids);
  // Delivers the entries of one XREAD reply and advances `ids`; stale ones are counted, not
  // delivered; `replay`: read after a reconnect (counted as replayed).
  void deliver_entries(const redisReply& xread, const std::vector<std::string>& keys, std::vector<std::string>& ids,
                       bool replay);
  void deliver(const std::string& stream, std::string_view payload);
  // XADD to the replica's notice stream; `attempt` counts the retries so far.
  void append(const std::string& replica, std::string payload, int attempt);
  // Wraps a callback so that it is dropped once close() has begun.
  redis::Callback guarded(redis::Callback cb);

  RedisRegistrationOptions opts_;
  std::string replica_;
  MemoryRegistrationStore local_;
  std::unique_ptr<metrics::Registry> own_registry_;
  std::unique_ptr<Metrics> m_;
  std::atomic<bool> closing_{false};
  std::atomic<int> active_callbacks_{0};
  std::atomic<size_t> in_flight_{0};
  std::atomic<bool> resync_wanted_{false};
  std::atomic<bool> subscriber_reconnected_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> degraded_{false};
  uint64_t seen_reconnects_ = 0;
  std::vector<Registration> resync_;  // maintain() only
  // What Redis holds of each local registration (expires_unix_ms = the copy's own expiry).
  std::mutex written_mu_;
  std::unordered_map<std::string, Registration> written_;
  size_t resync_pos_ = 0;

  mutable std::mutex mu_;
  std::string last_error_;
  std::vector<std::pair<std::string, std::function<void(const Notice&)>>> subscribers_;
  bool channels_changed_ = false;
  std::thread sub_thread_;
  std::unique_ptr<redis::Client> client_;
};

}  // namespace otaswarm::rendezvous
