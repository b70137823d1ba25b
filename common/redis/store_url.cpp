#include "common/redis/store_url.h"

#include "common/percent.h"

namespace otaswarm {

std::optional<StoreUrl> parse_store_url(const std::string& url, std::string& error) {
  StoreUrl out;
  if (url == "memory") return out;
  std::string_view rest;
  if (url.starts_with("redis://")) {
    out.kind = StoreUrl::Kind::redis;
    rest = std::string_view(url).substr(8);
  } else if (url.starts_with("redis-cluster://")) {
    out.kind = StoreUrl::Kind::redis_cluster;
    rest = std::string_view(url).substr(16);
  } else {
    error = "\"" + url + "\": expected memory, redis://host:port or redis-cluster://host:port,host:port,...";
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = cred.find(':');
    auto user = percent::decode(cred.substr(0, colon));
    auto pass = colon == std::string_view::npos ? std::optional<std::string>("") : percent::decode(cred.substr(colon + 1));
    if (!user || !pass) {
      error = "the credentials in the store URL are not valid percent-encoding";
      return std::nullopt;
    }
    // "redis://secret@h" is a bare password, as redis-cli reads it.
    if (colon == std::string_view::npos) std::swap(*user, *pass);
    out.username = std::move(*user);
    out.password = std::move(*pass);
  }
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (part.empty()) continue;
    bool has_port = part.back() != ']' && part.find(':') != std::string_view::npos &&
                    (part.front() == '[' || part.find(':') == part.rfind(':'));
    auto ep = redis::parse_endpoint(has_port ? std::string(part) : std::string(part) + ":" + std::to_string(kDefaultRedisPort));
    if (!ep || ep->host.empty()) {
      error = "\"" + url + "\": \"" + std::string(part) + "\" is not host:port";
      return std::nullopt;
    }
    out.nodes.push_back(*ep);
  }
  if (out.nodes.empty()) {
    error = "\"" + url + "\": no Redis host given";
    return std::nullopt;
  }
  if (out.kind == StoreUrl::Kind::redis && out.nodes.size() != 1) {
    error = "\"" + url + "\": redis:// takes one host; use redis-cluster:// for several";
    return std::nullopt;
  }
  return out;
}

std::unique_ptr<redis::Client> make_redis_client(const StoreUrl& url) {
  if (url.kind == StoreUrl::Kind::memory) return nullptr;
  redis::ClientOptions o;
  o.seeds = url.nodes;
  o.cluster = url.kind == StoreUrl::Kind::redis_cluster;
  o.username = url.username;
  o.password = url.password;
  return std::make_unique<redis::Client>(std::move(o));
}

}  // namespace otaswarm
