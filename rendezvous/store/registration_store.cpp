#include "rendezvous/store/registration_store.h"

namespace otaswarm::rendezvous {

std::string MemoryRegistrationStore::endpoint_key(const std::string& info_hash, const Endpoint& ep) {
  return info_hash + "|" + ep.text();
}

void MemoryRegistrationStore::erase_locked(std::unordered_map<std::string, Registration>::iterator it) {
  auto ek = by_endpoint_.find(endpoint_key(it->second.info_hash, it->second.reflexive));
  if (ek != by_endpoint_.end() && ek->second == it->first) by_endpoint_.erase(ek);
  by_device_.erase(it);
}

bool MemoryRegistrationStore::put(const Registration& r, int64_t now) {
  std::lock_guard lk(mu_);
  auto it = by_device_.find(r.device_id);
  if (it != by_device_.end() && it->second.info_hash == r.info_hash && it->second.reflexive == r.reflexive) {
    it->second = r;  // a refresh: same index entry, and the strings reuse their storage
    return true;
  }
  if (it != by_device_.end()) erase_locked(it);
  else if (by_device_.size() >= max_) expire_locked(now);
  if (by_device_.size() >= max_) return false;  // full of live registrations: refuse rather than grow
  by_endpoint_[endpoint_key(r.info_hash, r.reflexive)] = r.device_id;
  by_device_[r.device_id] = r;
  return true;
}

std::optional<Registration> MemoryRegistrationStore::get(const std::string& device_id, int64_t now) {
  std::lock_guard lk(mu_);
  auto it = by_device_.find(device_id);
  if (it == by_device_.end() || it->second.expires_unix_ms < now) return std::nullopt;
  return it->second;
}

std::optional<Registration> MemoryRegistrationStore::find_by_endpoint(const std::string& info_hash, const Endpoint& ep,
                                                          int64_t now) {
  std::lock_guard lk(mu_);
  auto ek = by_endpoint_.find(endpoint_key(info_hash, ep));
  if (ek == by_endpoint_.end()) return std::nullopt;
  auto it = by_device_.find(ek->second);
  if (it == by_device_.end() || it->second.expires_unix_ms < now) return std::nullopt;
  return it->second;
}

void MemoryRegistrationStore::remove(const std::string& device_id) {
  std::lock_guard lk(mu_);
  auto it = by_device_.find(device_id);
  if (it != by_device_.end()) erase_locked(it);
}

size_t MemoryRegistrationStore::expire(int64_t now) { return expire(now, nullptr); }

size_t MemoryRegistrationStore::expire(int64_t now, std::vector<Registration>* dropped) {
  std::lock_guard lk(mu_);
  return expire_locked(now, dropped);
}

size_t MemoryRegistrationStore::expire_locked(int64_t now, std::vector<Registration>* dropped) {
  size_t n = 0;
  for (auto it = by_device_.begin(); it != by_device_.end();) {
    auto next = std::next(it);
    if (it->second.expires_unix_ms < now) {
      if (dropped) dropped->push_back(it->second);
      erase_locked(it);
      ++n;
    }
    it = next;
  }
  return n;
}

std::vector<Registration> MemoryRegistrationStore::live(int64_t now) const {
  std::lock_guard lk(mu_);
  std::vector<Registration> out;
  out.reserve(by_device_.size());
  for (const auto& [id, r] : by_device_)
    if (r.expires_unix_ms >= now) out.push_back(r);
  return out;
}

size_t MemoryRegistrationStore::size() const {
  std::lock_guard lk(mu_);
  return by_device_.size();
}

void MemoryRegistrationStore::publish(const Notice& n) {
  std::vector<std::function<void(const Notice&)>> targets;
  {
    std::lock_guard lk(sub_mu_);
    for (auto& [replica, fn] : subscribers_)
      if (replica == n.replica) targets.push_back(fn);
  }
  for (auto& fn : targets) fn(n);
}

void MemoryRegistrationStore::subscribe(const std::string& replica, std::function<void(const Notice&)> fn) {
  std::lock_guard lk(sub_mu_);
  subscribers_.emplace_back(replica, std::move(fn));
}

}  // namespace otaswarm::rendezvous
