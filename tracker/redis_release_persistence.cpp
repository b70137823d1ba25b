#include "tracker/redis_release_persistence.h"

#include <unordered_map>

#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm {

RedisReleasePersistence::RedisReleasePersistence(std::unique_ptr<redis::Client> client, RedisReleaseOptions opts)
    : client_(std::move(client)), opts_(std::move(opts)) {}

bool RedisReleasePersistence::replicated(std::string& error) {
  if (opts_.min_replicas <= 0) return true;
  // WAIT goes to the node that holds the key: the client routes by the key we give it.
  auto r = client_->execute_sync({"WAIT", std::to_string(opts_.min_replicas),
                                  std::to_string(opts_.write_timeout.count() / 2)},
                                 opts_.key, opts_.write_timeout);
  if (!r.ok()) {
    error = "redis WAIT failed: " + r.message;
    return false;
  }
  if (r.reply.as_int(0) < opts_.min_replicas) {
    error = "release written to the redis master but not yet to a replica; retry";
    return false;
  }
  return true;
}

bool RedisReleasePersistence::save(const Release& r, std::string& error) {
  auto res = client_->execute_sync({"HSET", opts_.key, crypto::hex(r.info_hash), r.torrent}, opts_.key,
                                   opts_.write_timeout);
  if (!res.ok()) {
    error = "redis: " + res.message;
    return false;
  }
  return replicated(error);
}

bool RedisReleasePersistence::save_origin(const store::InfoHash& h, const OriginPolicy& p, std::string& error) {
  auto res = client_->execute_sync({"HSET", opts_.origin_key, crypto::hex(h), origin_policy_json(p)}, opts_.origin_key,
                                   opts_.write_timeout);
  if (!res.ok()) {
    error = "redis: " + res.message;
    return false;
  }
  return replicated(error);
}

bool RedisReleasePersistence::remove(const store::InfoHash& h, std::string& error) {
  client_->execute_sync({"HDEL", opts_.origin_key, crypto::hex(h)}, opts_.origin_key, opts_.write_timeout);
  auto res = client_->execute_sync({"HDEL", opts_.key, crypto::hex(h)}, opts_.key, opts_.write_timeout);
  if (!res.ok()) {
    error = "redis: " + res.message;
    return false;
  }
  return replicated(error);
}

std::optional<std::vector<Release>> RedisReleasePersistence::try_load_all() {
  // Releases are few (one per OTA image), so reading the whole hash is cheap and off the announce path.
  auto res = client_->execute_sync({"HGETALL", opts_.key}, opts_.key, opts_.load_timeout);
  if (!res.ok() || res.reply.type != redis::Reply::Type::array) {
    log::warn("cannot load releases from redis", {{"error", res.ok() ? "unexpected reply" : res.message}});
    return std::nullopt;
  }
  // Origin policies (absent: paced by default); unreadable ones keep the default.
  std::unordered_map<std::string, std::string> origin;
  auto ores = client_->execute_sync({"HGETALL", opts_.origin_key}, opts_.origin_key, opts_.load_timeout);
  if (!ores.ok() || ores.reply.type != redis::Reply::Type::array) return std::nullopt;
  for (size_t i = 0; i + 1 < ores.reply.elements.size(); i += 2)
    origin[ores.reply.elements[i].str] = ores.reply.elements[i + 1].str;
  std::vector<Release> out;
  const auto& e = res.reply.elements;
  for (size_t i = 0; i + 1 < e.size(); i += 2) {
    auto parsed = parse_torrent(e[i + 1].str);
    if (!parsed.release || crypto::hex(parsed.release->info_hash) != e[i].str) {
      log::error("skipping unreadable release in redis", {{"info_hash", e[i].str}, {"error", parsed.error}});
      continue;
    }
    if (auto o = origin.find(e[i].str); o != origin.end())
      if (auto err = parse_origin_policy(o->second, parsed.release->origin))
        log::error("ignoring unreadable origin policy in redis", {{"info_hash", e[i].str}, {"error", *err}});
    out.push_back(std::move(*parsed.release));
  }
  return out;
}

void RedisReleasePersistence::fetch_async(const store::InfoHash& h, FetchDone done) {
  std::string hex = crypto::hex(h);
  client_->execute({"HGET", opts_.key, hex}, opts_.key, opts_.fetch_timeout,
                   [hex, done = std::move(done)](redis::Result&& res) {
                     // At shutdown the front ends may be gone: nobody is left to answer.
                     if (res.err == redis::Errc::shutdown) return;
                     if (!res.ok()) return done(false, std::nullopt);
                     if (res.reply.type != redis::Reply::Type::string) return done(true, std::nullopt);
                     auto parsed = parse_torrent(res.reply.str);
                     if (!parsed.release || crypto::hex(parsed.release->info_hash) != hex) {
                       log::error("skipping unreadable release in redis", {{"info_hash", hex}, {"error", parsed.error}});
                       return done(true, std::nullopt);
                     }
                     done(true, std::move(parsed.release));
                   });
}

std::vector<Release> RedisReleasePersistence::load_all() { return try_load_all().value_or(std::vector<Release>{}); }

ReleaseRefresher::ReleaseRefresher(ReleaseRegistry& registry, std::chrono::milliseconds period)
    : registry_(registry), period_(period) {
  thread_ = std::thread([this] {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, period_, [this] { return stop_; })) {
      lk.unlock();
      registry_.refresh();
      lk.lock();
    }
  });
}

ReleaseRefresher::~ReleaseRefresher() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace otaswarm
