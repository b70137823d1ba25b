#include "tracker/locality.h"

#include <maxminddb.h>

#include <cstring>

#include "common/config.h"
#include "common/crypto.h"
#include "common/proto/icode.h"

namespace otaswarm {

namespace {
// A stable non-zero id of (kind, name): the first bytes of SHA-256 over "kind\nname" (0 means "none").
template <class Id>
Id digest_id(std::string_view kind, std::string_view name) {
  std::string msg(kind);
  msg.push_back('\n');
  msg.append(name);
  auto h = crypto::sha256(msg);
  Id v;
  std::memcpy(&v, h.data(), sizeof v);
  return v ? v : 1;
}
}  // namespace

uint64_t BasicLocality::lan_key(const net::Address& raw, std::string_view hint) const {
  if (hint.empty() && require_hint_) return 0;
  return digest_id<uint64_t>(net::unmap(raw).to_string(), hint);
}

store::Locality BasicLocality::resolve(const net::Address& public_ip, std::string_view lan_hint,
                                       std::string_view) const {
  store::Locality l;
  l.lan = lan_key(public_ip, lan_hint);
  return l;
}

uint32_t locality_id(std::string_view kind, std::string_view name) {
  return name.empty() ? 0 : digest_id<uint32_t>(kind, name);
}

class Mmdb {
 public:
  explicit Mmdb(const std::string& path, std::string& error) {
    int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_);
    if (rc != MMDB_SUCCESS) {
      error = std::string("cannot open MaxMind database: ") + MMDB_strerror(rc);
      return;
    }
    open_ = true;
  }
  ~Mmdb() {
    if (open_) MMDB_close(&db_);
  }
  Mmdb(const Mmdb&) = delete;
  Mmdb& operator=(const Mmdb&) = delete;
  bool ok() const { return open_; }

  // Lookups on an MMAP database are read-only and safe from many threads.
  void lookup(const net::Address& raw, std::string& isp, std::string& region) const {
    auto a = net::unmap(raw);
    sockaddr_storage ss{};
    if (a.is_v4()) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      auto b = a.to_v4().to_bytes();
      std::memcpy(&sin->sin_addr, b.data(), 4);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      auto b = a.to_v6().to_bytes();
      std::memcpy(&sin6->sin6_addr, b.data(), 16);
    }
    int mmdb_error = 0;
    MMDB_lookup_result_s res = MMDB_lookup_sockaddr(const_cast<MMDB_s*>(&db_), reinterpret_cast<sockaddr*>(&ss),
                                                    &mmdb_error);
    if (mmdb_error != MMDB_SUCCESS || !res.found_entry) return;
    MMDB_entry_data_s data;
    if (MMDB_get_value(&res.entry, &data, "autonomous_system_number", nullptr) == MMDB_SUCCESS && data.has_data &&
        data.type == MMDB_DATA_TYPE_UINT32)
      isp = "AS" + std::to_string(data.uint32);
    if (MMDB_get_value(&res.entry, &data, "country", "iso_code", nullptr) == MMDB_SUCCESS && data.has_data &&
        data.type == MMDB_DATA_TYPE_UTF8_STRING)
      region.assign(data.utf8_string, data.data_size);
  }

 private:
  MMDB_s db_{};
  bool open_ = false;
};

LocalityService::LocalityService(LocalityOptions opts) : BasicLocality(opts.require_lan_hint), opts_(std::move(opts)) {
  std::string error, key;
  auto st = load(error, key);
  if (!st) throw config::ConfigError(key, error);
  state_.store(st);
}

LocalityService::~LocalityService() = default;

std::shared_ptr<const LocalityService::State> LocalityService::load(std::string& error, std::string& key) const {
  auto st = std::make_shared<State>();
  if (!opts_.map_path.empty()) {
    st->map = alto::NetworkMap::load_file(opts_.map_path, error);
    if (!st->map) {
      key = "locality-map";
      error = opts_.map_path + ": " + error;
      return nullptr;
    }
  }
  if (!opts_.mmdb_path.empty()) {
    auto db = std::make_shared<Mmdb>(opts_.mmdb_path, error);
    if (!db->ok()) {
      key = "locality-mmdb";
      error = opts_.mmdb_path + ": " + error;
      return nullptr;
    }
    st->mmdb = std::move(db);
  }
  return st;
}

bool LocalityService::reload(std::string& error) {
  std::lock_guard lk(reload_mu_);
  std::string key;
  auto st = load(error, key);
  if (!st) return false;
  state_.store(st);
  reloads_++;
  return true;
}

LocalityInfo LocalityService::describe(const net::Address& public_ip, std::string_view icode_text) const {
  LocalityInfo info;
  info.source = "none";
  if (!icode_text.empty() && !opts_.icode_keys.empty()) {
    if (auto c = icode::verify(opts_.icode_keys, icode_text, *opts_.clock)) {
      info.isp = c->isp;
      info.region = c->region;
      info.source = "icode";
      return info;
    }
  }
  auto st = state_.load();
  if (st->map) {
    if (const std::string* pid = st->map->lookup(public_ip)) {
      auto dot = pid->find('.');
      info.isp = pid->substr(0, dot);
      if (dot != std::string::npos) info.region = pid->substr(dot + 1);
      info.source = "alto";
    }
  }
  if (st->mmdb && (info.isp.empty() || info.region.empty())) {
    std::string isp, region;
    st->mmdb->lookup(public_ip, isp, region);
    if (info.isp.empty() && !isp.empty()) {
      info.isp = isp;
      info.source = "mmdb";
    }
    if (info.region.empty()) info.region = region;
  }
  return info;
}

store::Locality LocalityService::resolve(const net::Address& public_ip, std::string_view lan_hint,
                                         std::string_view icode_text) const {
  store::Locality l = BasicLocality::resolve(public_ip, lan_hint, icode_text);
  auto info = describe(public_ip, icode_text);
  l.isp = locality_id("isp", info.isp);
  l.region = locality_id("region", info.region);
  return l;
}

}  // namespace otaswarm
