#pragma once
// Where registrations live. Any replica may receive a device's registration and any replica
// may receive a connect request naming that device, so the store holds the endpoints and
// carries punch notices to the replica whose socket the target device talks to.
// MemoryRegistrationStore is the embedded default (one process); RedisRegistrationStore
// (rendezvous/store/redis_registration_store.h) keeps a MemoryRegistrationStore of this replica's registrations for the
// synchronous reads of the STUN threads, writes through to Redis, looks up the other
// replicas' registrations there (fetch*) and carries notices by PUBLISH on a per-replica channel.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/proto/nat.h"
#include "common/net.h"

namespace otaswarm::rendezvous {

struct Endpoint {
  net::Address address;
  uint16_t port = 0;
  bool empty() const { return port == 0; }
  std::string text() const { return empty() ? std::string() : net::format(address, port); }
  bool operator==(const Endpoint&) const = default;
};

struct Registration {
  std::string device_id;
  std::string info_hash;  // 20 raw bytes: the release the device is fetching
  Endpoint reflexive;     // as seen by the rendezvous on the device's data socket
  Endpoint lan;           // as reported by the device
  nat::NatClass cls;
  std::string replica;    // which replica's socket the device talks to
  int socket_index = 0;   // which of that replica's STUN sockets
  int64_t expires_unix_ms = 0;
};

// A message to deliver to a registered device from the socket it registered on.
struct Notice {
  std::string replica;
  int socket_index = 0;
  Endpoint to;
  std::string bytes;
};

class RegistrationStore {
 public:
  virtual ~RegistrationStore() = default;
  // Upserts; false when the store is full of live registrations.
  virtual bool put(const Registration& r, int64_t now_unix_ms) = 0;
  virtual std::optional<Registration> get(const std::string& device_id, int64_t now_unix_ms) = 0;
  // The device registered for info_hash whose reflexive endpoint is `ep` (tracker peer lists
  // carry the reflexive endpoint from the NAT ticket).
  virtual std::optional<Registration> find_by_endpoint(const std::string& info_hash, const Endpoint& ep,
                                                       int64_t now_unix_ms) = 0;
  virtual void remove(const std::string& device_id) = 0;
  virtual size_t expire(int64_t now_unix_ms) = 0;  // returns how many were dropped
  virtual size_t size() const = 0;
  // Delivery to whichever replica holds notice.replica's sockets (PUBLISH / SUBSCRIBE in Redis).
  virtual void publish(const Notice& n) = 0;
  // Subscribers are called for notices addressed to `replica`, on the publisher's thread.
  virtual void subscribe(const std::string& replica, std::function<void(const Notice&)> fn) = 0;

  // A registration get()/find_by_endpoint() miss may still be held for another replica in a
  // shared store: shared() says so, and fetch*() look there. The callback runs exactly once, on
  // any thread (at once here); `ok` is false when the shared store could not be asked.
  using Found = std::function<void(std::optional<Registration>, bool ok)>;
  virtual bool shared() const { return false; }
  virtual void fetch(const std::string& device_id, int64_t now_unix_ms, Found cb) { cb(get(device_id, now_unix_ms), true); }
  virtual void fetch_by_endpoint(const std::string& info_hash, const Endpoint& ep, int64_t now_unix_ms, Found cb) {
    cb(find_by_endpoint(info_hash, ep, now_unix_ms), true);
  }
  // /readyz: false with the reason while the shared store cannot be reached.
  virtual bool healthy(std::string& /*why*/) const { return true; }
  // Periodic upkeep besides expire() (re-sync after an outage); called from one timer.
  virtual void maintain(int64_t /*now_unix_ms*/) {}
};

class MemoryRegistrationStore final : public RegistrationStore {
 public:
  explicit MemoryRegistrationStore(size_t max_registrations) : max_(max_registrations) {}
  bool put(const Registration& r, int64_t now_unix_ms) override;
  std::optional<Registration> get(const std::string& device_id, int64_t now_unix_ms) override;
  std::optional<Registration> find_by_endpoint(const std::string& info_hash, const Endpoint& ep,
                                               int64_t now_unix_ms) override;
  void remove(const std::string& device_id) override;
  size_t expire(int64_t now_unix_ms) override;
  // Also hands back what was dropped (a shared store deletes its copies of them).
  size_t expire(int64_t now_unix_ms, std::vector<Registration>* dropped);
  size_t size() const override;
  void publish(const Notice& n) override;
  void subscribe(const std::string& replica, std::function<void(const Notice&)> fn) override;
  // Every live registration (re-sync of a shared store after an outage).
  std::vector<Registration> live(int64_t now_unix_ms) const;

 private:
  static std::string endpoint_key(const std::string& info_hash, const Endpoint& ep);
  size_t expire_locked(int64_t now_unix_ms, std::vector<Registration>* dropped = nullptr);
  void erase_locked(std::unordered_map<std::string, Registration>::iterator it);
  size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Registration> by_device_;
  std::unordered_map<std::string, std::string> by_endpoint_;  // info_hash|ip:port → device id
  std::mutex sub_mu_;
  std::vector<std::pair<std::string, std::function<void(const Notice&)>>> subscribers_;
};

}  // namespace otaswarm::rendezvous
