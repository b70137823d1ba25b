#include "rendezvous/relay_budget.h"

#include <algorithm>
#include <cmath>

namespace otaswarm::rendezvous {

size_t RelayBudget::capacity() const {
  if (c_.session_bytes_per_second <= 0) return c_.max_allocations;
  auto by_rate = static_cast<size_t>(std::floor(c_.release_bytes_per_second / c_.session_bytes_per_second));
  return std::min(by_rate, c_.max_allocations);
}

void RelayBudget::sweep(std::map<std::string, int64_t>& sessions, int64_t now_ms) {
  for (auto it = sessions.begin(); it != sessions.end();) {
    if (it->second <= now_ms) it = sessions.erase(it);
    else ++it;
  }
}

bool RelayBudget::admit(const std::string& info_hash, const std::string& pair, int64_t now_ms, int64_t hold_ms) {
  std::lock_guard lk(mu_);
  auto& sessions = sessions_[info_hash];
  sweep(sessions, now_ms);
  auto it = sessions.find(pair);
  if (it == sessions.end() && sessions.size() >= capacity()) {
    if (sessions.empty()) sessions_.erase(info_hash);
    return false;
  }
  int64_t hold = hold_ms > 0 ? std::min(hold_ms, c_.session_ttl_ms) : c_.session_ttl_ms;
  sessions[pair] = now_ms + hold;
  return true;
}

bool RelayBudget::release(const std::string& info_hash, const std::string& pair) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(info_hash);
  if (it == sessions_.end()) return false;
  bool held = it->second.erase(pair) > 0;
  if (it->second.empty()) sessions_.erase(it);
  return held;
}

size_t RelayBudget::active(const std::string& info_hash, int64_t now_ms) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(info_hash);
  if (it == sessions_.end()) return 0;
  sweep(it->second, now_ms);
  return it->second.size();
}

}  // namespace otaswarm::rendezvous
