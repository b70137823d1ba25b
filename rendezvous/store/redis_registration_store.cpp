#include "rendezvous/store/redis_registration_store.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "rendezvous/stun_handler.h"

namespace otaswarm::rendezvous {

using namespace std::chrono_literals;

namespace {
constexpr int kEncodingVersion = 1;
constexpr auto kSubscriberPoll = 100ms;  // how often the subscriber looks at closing_ and new channels
constexpr auto kSubscriberConnectTimeout = 1s;
constexpr auto kSleepStep = 50ms;
constexpr size_t kNoticeBatch = 512;  // stream entries per XREAD

int64_t now_wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  if (text.empty()) return Endpoint{};
  auto hp = net::parse_host_port(text);
  if (!hp) return std::nullopt;
  return Endpoint{hp->address, hp->port};
}

// Everything another replica reads from the record, i.e. what makes a refresh a change.
bool same_shared(const Registration& a, const Registration& b) {
  return a.info_hash == b.info_hash && a.reflexive == b.reflexive && a.lan == b.lan && a.cls == b.cls &&
         a.replica == b.replica && a.socket_index == b.socket_index;
}

// Deletes the key only while it holds the value this replica wrote (the device may have
// registered with another replica since).
constexpr const char* kDeleteIfSame =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}
}  // namespace

std::string encode_registration(const Registration& r) {
  Json o = Json::object();
  o["v"] = kEncodingVersion;
  o["d"] = r.device_id;
  o["h"] = crypto::hex(r.info_hash);
  o["r"] = r.reflexive.text();
  o["l"] = r.lan.text();
  o["m"] = static_cast<int>(r.cls.mapping);
  o["f"] = static_cast<int>(r.cls.filtering);
  o["p"] = r.cls.public_address;
  o["rep"] = r.replica;
  o["s"] = r.socket_index;
  o["e"] = r.expires_unix_ms;
  return json_dump(o);
}

std::optional<Registration> decode_registration(std::string_view s) {
  std::string why;
  auto v = json_parse(s, why);
  if (!v || !v->is_object()) return std::nullopt;
  const Json& o = *v;
  try {
    if (o.at("v").get<int>() != kEncodingVersion) return std::nullopt;
    Registration r;
    r.device_id = o.at("d").get<std::string>();
    auto ih = crypto::unhex(o.at("h").get<std::string>());
    auto refl = parse_endpoint(o.at("r").get<std::string>());
    auto lan = parse_endpoint(o.at("l").get<std::string>());
    if (!ih || !refl || !lan || refl->empty()) return std::nullopt;
    r.info_hash = *ih;
    r.reflexive = *refl;
    r.lan = *lan;
    auto m = o.at("m").get<int>(), f = o.at("f").get<int>();
    if (m < 0 || m > static_cast<int>(nat::Mapping::address_and_port_dependent) || f < 0 ||
        f > static_cast<int>(nat::Filtering::address_and_port_dependent))
      return std::nullopt;
    r.cls = nat::NatClass{static_cast<nat::Mapping>(m), static_cast<nat::Filtering>(f), o.at("p").get<bool>()};
    r.replica = o.at("rep").get<std::string>();
    r.socket_index = o.at("s").get<int>();
    r.expires_unix_ms = o.at("e").get<int64_t>();
    if (r.socket_index < 0 || r.socket_index >= kSocketCount || r.device_id.empty()) return std::nullopt;
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "<socket index>\n<ip:port>\n<STUN bytes>": the replica is the channel's.
std::string encode_notice(const Notice& n) {
  return std::to_string(n.socket_index) + "\n" + n.to.text() + "\n" + n.bytes;
}

std::optional<Notice> decode_notice(std::string_view s, const std::string& replica) {
  auto a = s.find('\n');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = s.find('\n', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  Notice n;
  n.replica = replica;
  auto idx = s.substr(0, a);
  if (idx.size() != 1 || idx[0] < '0' || idx[0] >= '0' + kSocketCount) return std::nullopt;
  n.socket_index = idx[0] - '0';
  auto to = parse_endpoint(s.substr(a + 1, b - a - 1));
  if (!to || to->empty()) return std::nullopt;
  n.to = *to;
  n.bytes = std::string(s.substr(b + 1));
  return n;
}

// A notice starts with its socket index (a digit), so the letter cannot be confused with one.
std::string encode_eviction(const std::string& device_id) { return "E\n" + device_id; }

std::optional<std::string> decode_eviction(std::string_view s) {
  if (s.size() < 3 || s[0] != 'E' || s[1] != '\n') return std::nullopt;
  return std::string(s.substr(2));
}

struct RedisRegistrationStore::Metrics {
  metrics::Counter *write_errors, *lookup_errors, *publish_errors, *subscribe_errors;
  metrics::Counter *local, *published, *retried, *replayed, *stale, *delivered, *evicted, *resynced;
  metrics::Counter *reg_new, *reg_changed, *reg_unchanged, *reg_extended;
  metrics::Counter *w_change, *w_extend, *w_resync, *w_forget, *w_evict;
  explicit Metrics(metrics::Registry& r) {
    auto& regs = r.counter("otaswarm_rendezvous_store_registrations_total",
                           "Registrations (and refreshes) by what they meant for Redis", {"result"});
    reg_new = &regs.with({"new"});
    reg_changed = &regs.with({"changed"});
    reg_unchanged = &regs.with({"unchanged"});
    reg_extended = &regs.with({"extended"});
    auto& writes = r.counter("otaswarm_rendezvous_store_writes_total",
                             "Redis write commands of the registration store", {"reason"});
    w_change = &writes.with({"change"});
    w_extend = &writes.with({"extend"});
    w_resync = &writes.with({"resync"});
    w_forget = &writes.with({"forget"});
    w_evict = &writes.with({"evict"});
    auto& errors = r.counter("otaswarm_rendezvous_store_errors_total",
                             "Redis requests of the registration store that failed", {"op"});
    write_errors = &errors.with({"write"});
    lookup_errors = &errors.with({"lookup"});
    publish_errors = &errors.with({"publish"});
    subscribe_errors = &errors.with({"subscribe"});
    auto& notices = r.counter("otaswarm_rendezvous_notices_total", "Punch notices by route", {"result"});
    local = &notices.with({"local"});
    published = &notices.with({"published"});
    retried = &notices.with({"retried"});
    replayed = &notices.with({"replayed"});
    stale = &notices.with({"stale"});
    delivered = &notices.with({"delivered"});
    evicted = &notices.with({"evicted"});
    resynced = &r.counter("otaswarm_rendezvous_store_resynced_total",
                          "Registrations written to Redis again after an outage")
                    .with({});
  }
};

RedisRegistrationStore::RedisRegistrationStore(std::unique_ptr<redis::Client> client, RedisRegistrationOptions opts,
                                               std::string replica, size_t max_registrations,
                                               metrics::Registry* metrics)
    : opts_(std::move(opts)), replica_(std::move(replica)), local_(max_registrations), client_(std::move(client)) {
  if (!metrics) {
    own_registry_ = std::make_unique<metrics::Registry>();  // counted, not exported
  }
  m_ = std::make_unique<Metrics>(metrics ? *metrics : *own_registry_);
  if (metrics)
    metrics->callback("otaswarm_rendezvous_store_degraded",
                      "1 while the shared registration store cannot be reached (registrations stay local)",
                      [this] {
                        std::string why;
                        return std::vector<metrics::Sample>{{{}, healthy(why) ? 0.0 : 1.0}};
                      });
}

RedisRegistrationStore::~RedisRegistrationStore() {
  close();
  client_.reset();  // joins the client's thread; what is still pending is dropped by guarded()
}

void RedisRegistrationStore::close() {
  if (closing_.exchange(true)) return;
  // A callback that began before closing_ was set may still be running user code: wait for
  // it. One that begins later sees closing_ (both atomics are sequentially consistent).
  while (active_callbacks_.load() != 0) std::this_thread::yield();
  if (sub_thread_.joinable()) sub_thread_.join();
}

redis::Callback RedisRegistrationStore::guarded(redis::Callback cb) {
  return [this, cb = std::move(cb)](redis::Result&& r) {
    active_callbacks_++;
    if (!closing_.load()) cb(std::move(r));
    active_callbacks_--;
  };
}

std::string RedisRegistrationStore::device_key(const std::string& device_id) const {
  return opts_.key_prefix + ":dev:" + device_id;
}

std::string RedisRegistrationStore::endpoint_key(const std::string& info_hash, const Endpoint& ep) const {
  return opts_.key_prefix + ":ep:" + crypto::hex(info_hash) + ":" + ep.text();
}

std::string RedisRegistrationStore::notice_stream(const std::string& replica) const {
  return opts_.key_prefix + ":notices:" + replica;
}

void RedisRegistrationStore::failed(const char* op, const redis::Result& res) {
  std::lock_guard lk(mu_);
  last_error_ = std::string(op) + ": " + redis::to_string(res.err) + (res.message.empty() ? "" : " " + res.message);
}

bool RedisRegistrationStore::put(const Registration& r, int64_t now) {
  if (!local_.put(r, now)) return false;
  int64_t lifetime = std::max<int64_t>(1, r.expires_unix_ms - now) * opts_.shared_lifetime_factor;
  metrics::Counter* reason = m_->w_change;
  {
    std::lock_guard lk(written_mu_);
    auto it = written_.find(r.device_id);
    if (it == written_.end()) {
      m_->reg_new->inc();
    } else if (!same_shared(it->second, r)) {
      m_->reg_changed->inc();
    } else if (static_cast<double>(it->second.expires_unix_ms - now) >=
                   opts_.refresh_ahead * static_cast<double>(lifetime) &&
               it->second.expires_unix_ms >= r.expires_unix_ms) {
      m_->reg_unchanged->inc();  // Redis's copy outlives this registration: nothing to write
      return true;
    } else {
      m_->reg_extended->inc();
      reason = m_->w_extend;
    }
  }
  write(r, now, false, reason);
  return true;
}

void RedisRegistrationStore::forget_written(const std::string& device_id) {
  std::lock_guard lk(written_mu_);
  written_.erase(device_id);
}

void RedisRegistrationStore::write(const Registration& r, int64_t now, bool fill_only, metrics::Counter* counted) {
  if (closing_.load()) return;
  if (in_flight_.load() >= opts_.max_in_flight_writes) {
    m_->write_errors->inc();
    resync_wanted_ = true;
    forget_written(r.device_id);  // the next refresh writes it
    return;
  }
  int64_t lifetime = std::max<int64_t>(1, r.expires_unix_ms - now) * opts_.shared_lifetime_factor;
  Registration shared = r;
  shared.expires_unix_ms = now + lifetime;
  {
    std::lock_guard lk(written_mu_);
    written_[r.device_id] = shared;
  }
  auto ttl = std::to_string(lifetime);
  auto done = [this, device = r.device_id, until = shared.expires_unix_ms](const redis::Result& res) {
    in_flight_--;
    if (res.ok()) return true;
    m_->write_errors->inc();
    resync_wanted_ = true;
    failed("write", res);
    std::lock_guard lk(written_mu_);
    auto it = written_.find(device);
    if (it != written_.end() && it->second.expires_unix_ms == until) written_.erase(it);
    return false;
  };
  in_flight_ += 2;
  counted->inc(2);
  auto dk = device_key(r.device_id);
  std::vector<std::string> set = {"SET", dk, encode_registration(shared), "PX", ttl, fill_only ? "NX" : "GET"};
  client_->execute(std::move(set), dk, opts_.write_timeout,
                   guarded([this, done, fill_only, device = r.device_id](redis::Result&& res) {
                     if (done(res) && !fill_only) evict_elsewhere(device, res.reply);
                   }));
  auto ek = endpoint_key(r.info_hash, r.reflexive);
  std::vector<std::string> index = {"SET", ek, r.device_id, "PX", ttl};
  if (fill_only) index.emplace_back("NX");
  client_->execute(std::move(index), ek, opts_.write_timeout, guarded([done](redis::Result&& res) { done(res); }));
}

void RedisRegistrationStore::forget(const std::vector<Registration>& dropped) {
  for (const auto& r : dropped) {
    std::string value;
    {
      std::lock_guard lk(written_mu_);
      auto it = written_.find(r.device_id);
      if (it == written_.end()) continue;
      value = encode_registration(it->second);
      written_.erase(it);
    }
    if (closing_.load()) return;
    m_->w_forget->inc();
    auto dk = device_key(r.device_id);
    client_->execute({"EVAL", kDeleteIfSame, "1", dk, value}, dk, opts_.write_timeout,
                     guarded([this](redis::Result&& res) {
                       if (res.ok()) return;
                       m_->write_errors->inc();
                       failed("write", res);
                     }));
  }
}

void RedisRegistrationStore::evict_elsewhere(const std::string& device_id, const redis::Reply& old) {
  if (old.type != redis::Reply::Type::string) return;
  auto prev = decode_registration(old.str);
  if (!prev || prev->replica == replica_) return;
  m_->w_evict->inc();
  append(prev->replica, encode_eviction(device_id), 0);
}

std::optional<Registration> RedisRegistrationStore::get(const std::string& device_id, int64_t now) {
  return local_.get(device_id, now);
}

std::optional<Registration> RedisRegistrationStore::find_by_endpoint(const std::string& info_hash, const Endpoint& ep,
                                                                     int64_t now) {
  return local_.find_by_endpoint(info_hash, ep, now);
}

void RedisRegistrationStore::remove(const std::string& device_id) {
  local_.remove(device_id);
  forget_written(device_id);
  if (closing_.load()) return;
  auto dk = device_key(device_id);
  client_->execute({"DEL", dk}, dk, opts_.write_timeout, guarded([this](redis::Result&& res) {
                     if (res.ok()) return;
                     m_->write_errors->inc();
                     failed("write", res);
                   }));
}

size_t RedisRegistrationStore::expire(int64_t now) {
  std::vector<Registration> dropped;
  size_t n = local_.expire(now, &dropped);
  forget(dropped);
  return n;
}

size_t RedisRegistrationStore::size() const { return local_.size(); }

void RedisRegistrationStore::fetch(const std::string& device_id, int64_t now, Found cb) {
  if (closing_.load()) return cb(std::nullopt, false);
  auto dk = device_key(device_id);
  client_->execute({"GET", dk}, dk, opts_.lookup_timeout, guarded([this, now, cb = std::move(cb)](redis::Result&& res) {
                     if (!res.ok()) {
                       m_->lookup_errors->inc();
                       failed("lookup", res);
                       return cb(std::nullopt, false);
                     }
                     std::optional<Registration> r;
                     if (res.reply.type == redis::Reply::Type::string) r = decode_registration(res.reply.str);
                     if (r && r->expires_unix_ms < now) r.reset();
                     cb(std::move(r), true);
                   }));
}

void RedisRegistrationStore::fetch_by_endpoint(const std::string& info_hash, const Endpoint& ep, int64_t now,
                                               Found cb) {
  if (closing_.load()) return cb(std::nullopt, false);
  auto ek = endpoint_key(info_hash, ep);
  client_->execute({"GET", ek}, ek, opts_.lookup_timeout,
                   guarded([this, info_hash, ep, now, cb = std::move(cb)](redis::Result&& res) mutable {
                     if (!res.ok()) {
                       m_->lookup_errors->inc();
                       failed("lookup", res);
                       return cb(std::nullopt, false);
                     }
                     if (res.reply.type != redis::Reply::Type::string) return cb(std::nullopt, true);
                     // The index may outlive a re-registration elsewhere: the device's own record decides.
                     fetch(res.reply.str, now, [info_hash, ep, cb = std::move(cb)](std::optional<Registration> r, bool ok) {
                       if (r && (r->info_hash != info_hash || !(r->reflexive == ep))) r.reset();
                       cb(std::move(r), ok);
                     });
                   }));
}

void RedisRegistrationStore::publish(const Notice& n) {
  if (n.replica == replica_) {
    // Our own device: no round trip through Redis.
    std::vector<std::function<void(const Notice&)>> targets;
    {
      std::lock_guard lk(mu_);
      for (auto& [replica, fn] : subscribers_)
        if (replica == n.replica) targets.push_back(fn);
    }
    m_->local->inc();
    for (auto& fn : targets) fn(n);
    return;
  }
  append(n.replica, encode_notice(n), 0);
}

void RedisRegistrationStore::append(const std::string& replica, std::string payload, int attempt) {
  if (closing_.load()) return;
  auto key = notice_stream(replica);
  std::vector<std::string> xadd = {"XADD", key, "MAXLEN", "~", std::to_string(opts_.notice_stream_length), "*",
                                   "n", payload};
  client_->execute(std::move(xadd), key, opts_.publish_timeout,
                   guarded([this, replica, payload = std::move(payload), attempt](redis::Result&& res) mutable {
                     if (res.ok()) {
                       m_->published->inc();
                       return;
                     }
                     // Not appended, or unknown (connection lost after sending): send again. A
                     // duplicate is harmless, the device dedups by transaction id.
                     if (attempt < opts_.publish_retries && res.err != redis::Errc::shutdown) {
                       m_->retried->inc();
                       return append(replica, std::move(payload), attempt + 1);
                     }
                     m_->publish_errors->inc();
                     failed("publish", res);
                   }));
}

void RedisRegistrationStore::subscribe(const std::string& replica, std::function<void(const Notice&)> fn) {
  std::lock_guard lk(mu_);
  subscribers_.emplace_back(replica, std::move(fn));
  channels_changed_ = true;
  if (!sub_thread_.joinable() && !opts_.subscribe_nodes.empty())
    sub_thread_ = std::thread([this] { subscriber_loop(); });
}

void RedisRegistrationStore::deliver(const std::string& key, std::string_view payload) {
  if (auto device = decode_eviction(payload)) {
    // Only this replica's stream carries evictions for it. A copy dropped too eagerly (the
    // device came back here meanwhile) only costs a lookup in Redis, which has the newest.
    if (key != notice_stream(replica_)) return;
    m_->evicted->inc();
    local_.remove(*device);
    forget_written(*device);
    return;
  }
  std::vector<std::pair<std::string, std::function<void(const Notice&)>>> targets;
  {
    std::lock_guard lk(mu_);
    for (auto& s : subscribers_)
      if (notice_stream(s.first) == key) targets.push_back(s);
  }
  for (auto& [replica, fn] : targets) {
    auto n = decode_notice(payload, replica);
    if (!n) continue;
    m_->delivered->inc();
    fn(*n);
  }
}

namespace {
struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

ReplyPtr command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return ReplyPtr(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

// The node a cluster's "MOVED <slot> <host:port>" error names.
std::optional<redis::Endpoint> moved_to(std::string_view error) {
  if (error.substr(0, 6) != "MOVED ") return std::nullopt;
  return redis::parse_endpoint(error.substr(error.rfind(' ') + 1));
}

// Milliseconds part of a stream entry id "<ms>-<seq>".
int64_t id_ms(std::string_view id) {
  int64_t ms = 0;
  for (char ch : id) {
    if (ch < '0' || ch > '9') break;
    ms = ms * 10 + (ch - '0');
  }
  return ms;
}
}  // namespace

// A blocking hiredis connection on its own thread, reading this replica's notice stream with
// XREAD BLOCK from the last id it has seen: after a reconnect it goes on where it stopped, so
// the notices appended meanwhile are replayed, not lost. The short BLOCK lets it notice
// close() and new subscribers. In a cluster, a MOVED reply names the node to read from.
void RedisRegistrationStore::follow_new_streams(std::vector<std::string>& keys, std::vector<std::string>& ids) {
  std::lock_guard lk(mu_);
  if (!channels_changed_) return;
  channels_changed_ = false;
  for (auto& s : subscribers_) {
    auto k = notice_stream(s.first);
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      keys.push_back(k);
      ids.emplace_back();
    }
  }
}

void RedisRegistrationStore::deliver_entries(const redisReply& xread, const std::vector<std::string>& keys,
                                             std::vector<std::string>& ids, bool replay) {
  const auto* r = &xread;
  int64_t oldest_ms = now_wall_ms() - opts_.notice_max_age.count();
  for (size_t s = 0; s < r->elements; ++s) {
    auto* st = r->element[s];
    if (st->type != REDIS_REPLY_ARRAY || st->elements != 2) continue;
    std::string key(st->element[0]->str, st->element[0]->len);
    auto slot = std::find(keys.begin(), keys.end(), key);
    if (slot == keys.end()) continue;
    auto* entries = st->element[1];
    for (size_t e = 0; e < entries->elements; ++e) {
      auto* en = entries->element[e];
      if (en->type != REDIS_REPLY_ARRAY || en->elements != 2) continue;
      std::string id(en->element[0]->str, en->element[0]->len);
      ids[slot - keys.begin()] = id;
      auto* fields = en->element[1];
      if (fields->type != REDIS_REPLY_ARRAY || fields->elements != 2) continue;
      if (id_ms(id) < oldest_ms) {
        m_->stale->inc();  // the punch it announced has long started
        continue;
      }
      if (replay) m_->replayed->inc();
      deliver(key, std::string_view(fields->element[1]->str, fields->element[1]->len));
    }
  }
}

void RedisRegistrationStore::subscriber_loop() {
  auto backoff = opts_.subscribe_backoff_min;
  size_t next_node = 0;
  bool first = true;
  std::optional<redis::Endpoint> moved;
  std::vector<std::string> keys, ids;  // parallel: stream key, last id read
  auto pause = [&](std::chrono::milliseconds d) {
    for (auto waited = 0ms; waited < d && !closing_.load(); waited += kSleepStep) std::this_thread::sleep_for(kSleepStep);
  };
  auto fail = [&](const std::string& why) {
    m_->subscribe_errors->inc();
    {
      std::lock_guard lk(mu_);
      last_error_ = "subscribe: " + why;
    }
    pause(backoff);
    backoff = std::min(opts_.subscribe_backoff_max, backoff * 2);
  };
  while (!closing_.load()) {
    redis::Endpoint ep = moved ? *moved : opts_.subscribe_nodes[next_node++ % opts_.subscribe_nodes.size()];
    moved.reset();
    redisContext* c = redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(kSubscriberConnectTimeout));
    if (!c || c->err) {
      std::string why = "connect " + ep.str() + ": " + (c ? c->errstr : "out of memory");
      if (c) redisFree(c);
      fail(why);
      continue;
    }
    redisSetTimeout(c, to_timeval(kSubscriberConnectTimeout + kSubscriberPoll));
    std::string error;
    if (!opts_.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!opts_.username.empty()) auth.push_back(opts_.username);
      auth.push_back(opts_.password);
      auto r = command(c, auth);
      if (!r || r->type == REDIS_REPLY_ERROR) error = "AUTH refused by " + ep.str();
    }
    if (error.empty()) {
      auto r = command(c, {"CLIENT", "SETNAME", "otaswarm-rdv-notices-" + replica_});
      if (!r) error = std::string("CLIENT SETNAME: ") + c->errstr;
    }
    bool replay = !first;
    while (error.empty() && !closing_.load()) {
      follow_new_streams(keys, ids);
      // A stream read for the first time starts after its newest entry (older ones are stale).
      for (size_t i = 0; i < keys.size() && error.empty(); ++i) {
        if (!ids[i].empty()) continue;
        auto r = command(c, {"XREVRANGE", keys[i], "+", "-", "COUNT", "1"});
        if (!r) error = std::string("read: ") + c->errstr;
        else if (r->type == REDIS_REPLY_ERROR && (moved = moved_to(std::string_view(r->str, r->len)))) break;
        else if (r->type == REDIS_REPLY_ERROR) error = std::string(r->str, r->len);
        else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2)
          ids[i] = std::string(r->element[0]->element[0]->str, r->element[0]->element[0]->len);
        else ids[i] = "0-0";
      }
      if (!error.empty() || moved) break;
      if (!subscribed_.exchange(true)) {
        backoff = opts_.subscribe_backoff_min;
        // Redis may have come back empty while we were away: write our registrations again.
        if (!first) subscriber_reconnected_ = true;
        first = false;
        log::info("reading punch notices", {{"redis", ep.str()}});
      }
      std::vector<std::string> args = {"XREAD", "COUNT", std::to_string(kNoticeBatch), "BLOCK",
                                       std::to_string(kSubscriberPoll.count()), "STREAMS"};
      args.insert(args.end(), keys.begin(), keys.end());
      args.insert(args.end(), ids.begin(), ids.end());
      auto r = command(c, args);
      if (!r) {
        error = std::string("read: ") + c->errstr;
        break;
      }
      if (r->type == REDIS_REPLY_ERROR) {
        std::string_view e(r->str, r->len);
        if ((moved = moved_to(e))) break;  // read from the node that owns the stream
        error = "XREAD refused: " + std::string(e);
        break;
      }
      if (r->type != REDIS_REPLY_ARRAY) continue;  // nil: nothing within BLOCK
      deliver_entries(*r, keys, ids, replay);
      replay = false;
    }
    subscribed_ = false;
    redisFree(c);
    if (!error.empty()) {
      log::warn("notice stream read lost", {{"redis", ep.str()}, {"error", error}});
      fail(error);
    }
  }
}

bool RedisRegistrationStore::healthy(std::string& why) const {
  if (closing_.load()) {
    why = "shutting down";
    return false;
  }
  std::string w;
  if (!client_->up(w)) {
    why = "redis: " + w;
    return false;
  }
  std::lock_guard lk(mu_);
  if (!subscribers_.empty() && !subscribed_.load()) {
    why = "not subscribed to punch notices" + (last_error_.empty() ? "" : " (" + last_error_ + ")");
    return false;
  }
  return true;
}

void RedisRegistrationStore::maintain(int64_t now) {
  if (closing_.load()) return;
  uint64_t rc = client_->stats().reconnects;
  if (rc != seen_reconnects_) {
    seen_reconnects_ = rc;
    resync_wanted_ = true;
  }
  if (subscriber_reconnected_.exchange(false)) resync_wanted_ = true;
  std::string why;
  if (!healthy(why)) {
    if (!degraded_.exchange(true)) log::warn("registration store degraded: registrations stay local", {{"why", why}});
    return;
  }
  if (degraded_.exchange(false)) {
    log::info("registration store recovered");
    resync_wanted_ = true;
  }
  if (resync_wanted_.exchange(false)) {
    resync_ = local_.live(now);
    resync_pos_ = 0;
  }
  size_t budget = opts_.resync_per_tick;
  for (; resync_pos_ < resync_.size() && budget > 0; ++resync_pos_, --budget) {
    write(resync_[resync_pos_], now, true, m_->w_resync);
    m_->resynced->inc();
  }
  if (resync_pos_ >= resync_.size()) {
    resync_.clear();
    resync_pos_ = 0;
  }
}

}  // namespace otaswarm::rendezvous
