#include "tracker/store/redis_stream_store.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm::store {

namespace {

constexpr auto kDegradedHold = std::chrono::seconds(2);
constexpr auto kTransitionLogGap = std::chrono::seconds(10);
constexpr int kCatchUpRounds = 8;
constexpr uint16_t kSlots = 16384;
constexpr int64_t kShardFailHoldMs = 2000;
constexpr size_t kWakeBacklog = 4096;  // records queued that wake the writer before its interval

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- record encoding: one compact binary value per stream entry -----------------------------

void put_varint(std::string& o, uint64_t v) {
  while (v >= 0x80) {
    o.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  o.push_back(static_cast<char>(v));
}

struct Reader {
  const char* p;
  const char* end;
  bool ok = true;
  uint8_t u8() {
    if (p >= end) return ok = false, 0;
    return static_cast<uint8_t>(*p++);
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = u8();
      if (!ok) return 0;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  void bytes(void* dst, size_t n) {
    if (size_t(end - p) < n) {
      ok = false;
      return;
    }
    std::memcpy(dst, p, n);
    p += n;
  }
  std::string str() {
    size_t n = varint();
    if (!ok || size_t(end - p) < n) return ok = false, std::string();
    std::string s(p, n);
    p += n;
    return s;
  }
};

void put_ip(std::string& o, const Ip& ip) { o.append(reinterpret_cast<const char*>(ip.b.data()), ip.v6 ? 16 : 4); }

enum : uint8_t { kRecAnnounce = 'A', kRecReset = 'R' };

struct Record {
  uint8_t type = kRecAnnounce;
  uint64_t replica = 0;
  Event event = Event::none;
  PeerData peer;
  AnnounceEffect fx;
};

std::string encode(const Record& r) {
  std::string o;
  o.reserve(96 + r.peer.device.size());
  o.push_back(static_cast<char>(r.type));
  o.append(reinterpret_cast<const char*>(&r.replica), 8);
  if (r.type != kRecAnnounce) return o;
  const PeerData& p = r.peer;
  o.push_back(static_cast<char>(r.event));
  o.push_back(static_cast<char>((p.ip.v6 ? 1 : 0) | (p.has_lan ? 2 : 0) | (p.lan_ip.v6 ? 4 : 0)));
  o.push_back(static_cast<char>(static_cast<uint8_t>(p.reach) | static_cast<uint8_t>(p.nat) << 4));
  put_ip(o, p.ip);
  o.push_back(static_cast<char>(p.port >> 8));
  o.push_back(static_cast<char>(p.port));
  if (p.has_lan) {
    put_ip(o, p.lan_ip);
    o.push_back(static_cast<char>(p.lan_port >> 8));
    o.push_back(static_cast<char>(p.lan_port));
  }
  o.append(reinterpret_cast<const char*>(p.peer_id.data()), p.peer_id.size());
  put_varint(o, p.loc.lan);
  put_varint(o, p.loc.isp);
  put_varint(o, p.loc.region);
  put_varint(o, p.uploaded);
  put_varint(o, p.downloaded);
  put_varint(o, p.left);
  put_varint(o, r.fx.completed);
  put_varint(o, r.fx.uploaded);
  put_varint(o, r.fx.downloaded);
  put_varint(o, p.device.size());
  o += p.device;
  return o;
}

bool decode(Reader& in, Record& r) {
  r.type = in.u8();
  in.bytes(&r.replica, 8);
  if (!in.ok) return false;
  if (r.type == kRecReset) return true;
  if (r.type != kRecAnnounce) return false;
  PeerData& p = r.peer;
  uint8_t ev = in.u8();
  if (ev > static_cast<uint8_t>(Event::paused)) return false;
  r.event = static_cast<Event>(ev);
  uint8_t flags = in.u8();
  uint8_t rn = in.u8();
  if ((rn & 0xf) >= kReachCount || (rn >> 4) >= kNatBucketCount) return false;
  p.reach = static_cast<Reach>(rn & 0xf);
  p.nat = static_cast<NatBucket>(rn >> 4);
  p.ip.v6 = flags & 1;
  in.bytes(p.ip.b.data(), p.ip.v6 ? 16 : 4);
  p.port = static_cast<uint16_t>(in.u8() << 8);
  p.port |= in.u8();
  p.has_lan = flags & 2;
  if (p.has_lan) {
    p.lan_ip.v6 = flags & 4;
    in.bytes(p.lan_ip.b.data(), p.lan_ip.v6 ? 16 : 4);
    p.lan_port = static_cast<uint16_t>(in.u8() << 8);
    p.lan_port |= in.u8();
  }
  in.bytes(p.peer_id.data(), p.peer_id.size());
  p.loc.lan = in.varint();
  p.loc.isp = static_cast<uint32_t>(in.varint());
  p.loc.region = static_cast<uint32_t>(in.varint());
  p.uploaded = in.varint();
  p.downloaded = in.varint();
  p.left = in.varint();
  r.fx.completed = in.varint();
  r.fx.uploaded = in.varint();
  r.fx.downloaded = in.varint();
  p.device = in.str();
  return in.ok && !p.device.empty();
}

// Stream IDs "ms-seq", compared numerically.
struct StreamId {
  uint64_t ms = 0, seq = 0;
  static StreamId parse(std::string_view s) {
    StreamId id;
    auto dash = s.find('-');
    auto num = [](std::string_view t) {
      uint64_t v = 0;
      for (char c : t)
        if (c >= '0' && c <= '9') v = v * 10 + uint64_t(c - '0');
      return v;
    };
    id.ms = num(s.substr(0, dash));
    if (dash != std::string_view::npos) id.seq = num(s.substr(dash + 1));
    return id;
  }
  bool operator<(const StreamId& o) const { return ms != o.ms ? ms < o.ms : seq < o.seq; }
};

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// Requests of one read round, answered on the client's thread and applied on the reader's.
struct Batch {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = 0;
  std::vector<redis::Result> results;
};

}  // namespace

struct RedisStreamStore::Shard {
  std::string prefix;  // "<prefix>:{<tag>}:"
  std::string stream, snap, lock;
  std::string pos = "0-0";  // last stream ID applied (reader thread only)
  int64_t completed = 0, uploaded = 0, downloaded = 0;  // Σ deltas of the records up to pos
  uint64_t since_snapshot = 0;
  std::chrono::steady_clock::time_point last_snapshot = std::chrono::steady_clock::now();
  bool resync = false;  // a read failed: check for a gap (trimmed past pos) before reading on
  // Last failed write or read of this shard (steady ms): announces of its devices get the
  // degraded interval hint for a while after it; the other shards' devices do not.
  struct Stamp {  // an atomic that a std::vector may move while it is still being built
    std::atomic<int64_t> v{INT64_MIN / 2};
    Stamp() = default;
    Stamp(const Stamp& o) : v(o.v.load()) {}
    Stamp& operator=(int64_t x) {
      v.store(x, std::memory_order_relaxed);
      return *this;
    }
    int64_t load(std::memory_order m = std::memory_order_seq_cst) const { return v.load(m); }
  } failed_ms;
};

struct RedisStreamStore::Release {
  InfoHash h{};
  std::vector<Shard> shards;
  std::mutex mu;
  std::atomic<bool> ready{false};  // set under mu (with `waiting` taken); read without it on the fast path
  std::vector<std::function<void()>> waiting;
  std::atomic<bool> removed{false};
  // Counters every reply carries: Σ deltas of applied records + this replica's own records
  // not read back yet (so a replica's own announce shows at once).
  std::atomic<int64_t> completed{0}, uploaded{0}, downloaded{0};
  std::atomic<uint32_t> peers{0};
  std::atomic<int64_t> last_local_ms{0};
  // Reader thread only.
  std::chrono::steady_clock::time_point next_poll{};
  std::chrono::milliseconds backoff{0};
};

struct RedisStreamStore::Metrics {
  metrics::Counter* errors_publish = nullptr;
  metrics::Counter* errors_read = nullptr;
  metrics::Counter* errors_snapshot = nullptr;
  metrics::Counter* shed = nullptr;
  metrics::Counter* published = nullptr;
  metrics::Counter* applied = nullptr;
  metrics::Counter* snapshots = nullptr;
  metrics::Histogram* latency_publish = nullptr;
  metrics::Histogram* latency_read = nullptr;
};

RedisStreamStore::RedisStreamStore(std::unique_ptr<redis::Client> client, RedisStreamStoreOptions opts,
                                   const Clock& clock, metrics::Registry* reg)
    : opts_(std::move(opts)),
      clock_(clock),
      replica_(crypto::random_u64() | 1),
      local_(opts_.memory, clock),
      m_(std::make_unique<Metrics>()),
      client_(std::move(client)) {
  opts_.shards = std::clamp<uint32_t>(opts_.shards, 1, 1024);
  if (reg) {
    auto& err = reg->counter("otaswarm_store_errors_total", "Failed store operations.", {"op"});
    m_->errors_publish = &err.with({"publish"});
    m_->errors_read = &err.with({"read"});
    m_->errors_snapshot = &err.with({"snapshot"});
    auto& lat = reg->histogram("otaswarm_store_request_duration_seconds", "Store round trip.", {"op"},
                               metrics::latency_buckets());
    m_->latency_publish = &lat.with({"publish"});
    m_->latency_read = &lat.with({"read"});
    m_->shed = &reg->counter("otaswarm_store_shed_total",
                             "Announces not published to Redis because too many writes were already queued.")
                    .get();
    auto& recs = reg->counter("otaswarm_store_stream_records_total", "Swarm stream records.", {"dir"});
    m_->published = &recs.with({"published"});
    m_->applied = &recs.with({"applied"});
    m_->snapshots = &reg->counter("otaswarm_store_snapshots_total", "Shard snapshots written to Redis.").get();
    reg->callback("otaswarm_store_degraded", "1 while answering from the local fallback.", [this] {
      return std::vector<metrics::Sample>{{{}, degraded_.load() ? 1.0 : 0.0}};
    });
    reg->callback(
        "otaswarm_store_reconnects_total", "Reconnections to Redis nodes.",
        [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(client_->stats().reconnects)}}; },
        true);
    reg->callback("otaswarm_store_pipeline_depth", "Redis requests sent and not yet answered.", [this] {
      return std::vector<metrics::Sample>{{{}, static_cast<double>(client_->stats().in_flight)}};
    });
    reg->callback(
        "otaswarm_store_redirects_total", "MOVED/ASK redirections followed.",
        [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(client_->stats().redirects)}}; },
        true);
  }
  reader_ = std::thread([this] { run(); });
  flusher_ = std::thread([this] { flush_loop(); });
}

RedisStreamStore::~RedisStreamStore() {
  {
    std::lock_guard lk(out_mu_);
    out_stop_ = true;
  }
  out_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  stop_ = true;
  {
    std::lock_guard lk(wake_mu_);
    wake_flag_ = true;
  }
  wake_.notify_all();
  if (reader_.joinable()) reader_.join();
  client_.reset();
}

std::string RedisStreamStore::backend() const { return client_->cluster() ? "redis-cluster" : "redis"; }

uint32_t RedisStreamStore::shard_of(std::string_view device) const {
  return static_cast<uint32_t>(fnv1a(device) % opts_.shards);
}

std::string RedisStreamStore::shard_prefix(const InfoHash& h, uint32_t k) const {
  // The tag of shard k is "<hex>:<k>:<n>" with the smallest n whose slot falls in the k-th
  // K-th of the slot space: a cluster's masters own contiguous slot ranges, so the K shards
  // of a release spread over all of them (K = 12 gives 4 per master with 3 masters).
  std::string hex = crypto::hex(h);
  uint32_t lo = k * kSlots / opts_.shards, hi = (k + 1) * kSlots / opts_.shards;
  std::string tag;
  for (uint32_t n = 0; n < 100000; ++n) {
    tag = hex + ":" + std::to_string(k) + ":" + std::to_string(n);
    uint16_t slot = redis::crc16(tag) % kSlots;
    if (slot >= lo && slot < hi) break;
  }
  return opts_.key_prefix + ":{" + tag + "}:";
}

std::shared_ptr<RedisStreamStore::Release> RedisStreamStore::find(const InfoHash& h) const {
  std::shared_lock lk(map_mu_);
  auto it = releases_.find(h);
  return it == releases_.end() ? nullptr : it->second;
}

std::shared_ptr<RedisStreamStore::Release> RedisStreamStore::follow(const InfoHash& h) {
  if (auto r = find(h)) return r;
  auto r = std::make_shared<Release>();
  r->h = h;
  r->shards.resize(opts_.shards);
  for (uint32_t k = 0; k < opts_.shards; ++k) {
    Shard& s = r->shards[k];
    s.prefix = shard_prefix(h, k);
    s.stream = s.prefix + "s";
    s.snap = s.prefix + "snap";
    s.lock = s.prefix + "lock";
  }
  r->last_local_ms = clock_.mono_ms();
  {
    std::unique_lock lk(map_mu_);
    auto [it, inserted] = releases_.emplace(h, r);
    if (!inserted) return it->second;
  }
  {
    std::lock_guard lk(wake_mu_);
    wake_flag_ = true;
  }
  wake_.notify_all();
  return r;
}

void RedisStreamStore::when_ready(const std::shared_ptr<Release>& r, std::function<void()> fn) {
  {
    std::lock_guard lk(r->mu);
    if (!r->ready) {
      r->waiting.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void RedisStreamStore::fill_counts(const Release& r, SwarmCounts& c) {
  c.completed = static_cast<uint64_t>(std::max<int64_t>(0, r.completed.load()));
  c.uploaded = static_cast<uint64_t>(std::max<int64_t>(0, r.uploaded.load()));
  c.downloaded = static_cast<uint64_t>(std::max<int64_t>(0, r.downloaded.load()));
}

void RedisStreamStore::answer(const std::shared_ptr<Release>& rp, const AnnounceOp& op, Status& st,
                              AnnounceResult& out) {
  Release& r = *rp;
  AnnounceEffect fx;
  st = local_.announce_sync(op, out, &fx);
  r.last_local_ms = clock_.mono_ms();
  if (st == Status::ok && !out.too_soon) {
    uint32_t peers = out.seeders + out.leechers;
    r.peers = peers;
    // Own deltas count at once; the reader moves them to the shard's applied sum when it
    // reads the record back (and skips applying it twice).
    if (fx.completed) r.completed += static_cast<int64_t>(fx.completed);
    if (fx.uploaded) r.uploaded += static_cast<int64_t>(fx.uploaded);
    if (fx.downloaded) r.downloaded += static_cast<int64_t>(fx.downloaded);
    publish(rp, op, fx, peers);
  }
  out.completed = static_cast<uint64_t>(std::max<int64_t>(0, r.completed.load()));
  if (degraded_.load(std::memory_order_relaxed)) {
    int64_t failed = std::max(r.shards[shard_of(op.peer.device)].failed_ms.load(std::memory_order_relaxed),
                              all_failed_ms_.load(std::memory_order_relaxed));
    if (steady_ms() - failed < kShardFailHoldMs) out.interval_hint = opts_.degraded_interval;
  }
}

void RedisStreamStore::publish(const std::shared_ptr<Release>& r, const AnnounceOp& op, const AnnounceEffect& fx,
                               uint32_t peers) {
  Record rec;
  rec.replica = replica_;
  rec.event = op.event;
  rec.peer = op.peer;
  rec.fx = fx;
  std::string bytes = encode(rec);
  bool wake;
  {
    std::lock_guard lk(out_mu_);
    if (outbox_.size() >= opts_.max_queued) {
      shed_.fetch_add(1, std::memory_order_relaxed);
      if (m_->shed) m_->shed->inc();
      return;
    }
    // The writer wakes by itself every flush interval; only a large backlog wakes it early
    // (a wake-up per announce would cost more than the announce: context switches).
    wake = outbox_.size() == kWakeBacklog;
    outbox_.push_back({r, shard_of(op.peer.device), peers, std::move(bytes)});
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  if (m_->published) m_->published->inc();
  if (wake) out_cv_.notify_one();
}

void RedisStreamStore::flush_loop() {
  std::vector<Outgoing> batch;
  for (;;) {
    {
      std::unique_lock lk(out_mu_);
      out_cv_.wait_for(lk, opts_.flush_interval, [&] { return out_stop_ || outbox_.size() >= kWakeBacklog; });
      if (outbox_.empty()) {
        if (out_stop_) return;
        continue;
      }
      batch.swap(outbox_);
    }
    // While the previous writes are still at Redis, records gather here: under load one XADD
    // carries many records (one entry, one "d" field per record), so Redis's cost per record
    // and the caller's both stay small.
    std::map<std::pair<Release*, uint32_t>, std::vector<Outgoing*>> groups;
    for (auto& o : batch) groups[{o.release.get(), o.shard}].push_back(&o);
    for (auto& [key, items] : groups) {
      Release& r = *key.first;
      if (r.removed) continue;
      const Shard& s = r.shards[key.second];
      for (size_t i = 0; i < items.size(); i += opts_.records_per_entry) {
        size_t n = std::min(items.size() - i, opts_.records_per_entry);
        // Keep about 1.5 × the shard's peers in records: entries hold n records each.
        size_t per_shard = items[i]->peers / opts_.shards + 1;
        size_t maxlen = std::max(opts_.min_stream_len, per_shard + per_shard / 2) / n + 1;
        std::vector<std::string> args = {"XADD", s.stream, "MAXLEN", "~", std::to_string(maxlen), "*"};
        args.reserve(6 + 2 * n);
        for (size_t j = i; j < i + n; ++j) {
          args.emplace_back("d");
          args.push_back(std::move(items[j]->bytes));
        }
        while (in_flight_.load() >= opts_.max_in_flight && !out_stop_)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        in_flight_++;
        Shard* sp = &r.shards[key.second];
        client_->execute(std::move(args), s.stream, opts_.request_timeout,
                         [this, keep = items[i]->release, sp, t0 = std::chrono::steady_clock::now()](redis::Result&& res) {
          in_flight_--;
          if (m_->latency_publish)
            m_->latency_publish->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          if (res.err == redis::Errc::shutdown) return;
          if (!res.ok() || res.reply.is_error()) {
            sp->failed_ms = steady_ms();
            if (m_->errors_publish) m_->errors_publish->inc();
            return fail("publish", res.ok() ? res.reply.str : res.message);
          }
          succeed();
        });
      }
    }
    batch.clear();
  }
}

bool RedisStreamStore::announce_now(const AnnounceOp& op, Status& st, AnnounceResult& out) {
  auto r = find(op.info_hash);
  if (!r || !r->ready.load(std::memory_order_acquire)) return false;
  answer(r, op, st, out);
  return true;
}

void RedisStreamStore::announce(const AnnounceOp& op, AnnounceCallback cb) {
  {
    Status st = Status::ok;
    AnnounceResult out;
    if (announce_now(op, st, out)) return cb(st, std::move(out));
  }
  auto r = follow(op.info_hash);
  when_ready(r, [this, r, op, cb = std::move(cb)]() {
    Status st = Status::ok;
    AnnounceResult out;
    answer(r, op, st, out);
    cb(st, std::move(out));
  });
}

void RedisStreamStore::scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) {
  struct State {
    std::atomic<size_t> left;
    std::vector<InfoHash> hashes;
    ScrapeCallback cb;
  };
  auto state = std::make_shared<State>();
  state->left = hashes.size() + 1;
  state->hashes = hashes;
  state->cb = std::move(cb);
  auto done = [this, state] {
    if (--state->left != 0) return;
    std::vector<SwarmCounts> out;
    out.reserve(state->hashes.size());
    for (const auto& h : state->hashes) out.push_back(counts(h));
    state->cb(Status::ok, std::move(out));
  };
  for (const auto& h : hashes) when_ready(follow(h), done);
  done();
}

SwarmCounts RedisStreamStore::counts(const InfoHash& h) {
  SwarmCounts c = local_.counts(h);
  if (auto r = find(h)) fill_counts(*r, c);
  return c;
}

void RedisStreamStore::remove_swarm(const InfoHash& h) {
  std::shared_ptr<Release> r;
  {
    std::unique_lock lk(map_mu_);
    auto it = releases_.find(h);
    if (it != releases_.end()) {
      r = it->second;
      releases_.erase(it);
    }
  }
  if (r) r->removed = true;
  local_.remove_swarm(h);
  // Forget it in Redis too, and tell the other replicas (a reset record in shard 0, read
  // after the DEL on the same node in order) to drop their views.
  Record reset;
  reset.type = kRecReset;
  reset.replica = replica_;
  for (uint32_t k = 0; k < opts_.shards; ++k) {
    std::string p = shard_prefix(h, k);
    client_->execute({"DEL", p + "s", p + "snap"}, p + "s", opts_.request_timeout, [](redis::Result&&) {});
    if (k == 0)
      client_->execute({"XADD", p + "s", "*", "d", encode(reset)}, p + "s", opts_.request_timeout,
                       [](redis::Result&&) {});
  }
}

void RedisStreamStore::maintain() {
  local_.maintain();
  // Stop following releases nobody announced to here for a whole peer timeout: their peers
  // have expired from the local view anyway, and quiet releases should cost Redis nothing.
  int64_t now = clock_.mono_ms();
  std::vector<InfoHash> idle;
  {
    std::shared_lock lk(map_mu_);
    for (const auto& [h, r] : releases_)
      if (now - r->last_local_ms.load() > opts_.memory.peer_timeout_ms && local_.peer_count(h) == 0) idle.push_back(h);
  }
  if (idle.empty()) return;
  std::unique_lock lk(map_mu_);
  for (const auto& h : idle) {
    auto it = releases_.find(h);
    if (it == releases_.end()) continue;
    std::lock_guard rl(it->second->mu);
    if (!it->second->waiting.empty()) continue;
    it->second->removed = true;
    releases_.erase(it);
  }
}

bool RedisStreamStore::healthy(std::string& why) const {
  if (!client_->up(why)) {
    // A single node that is down fails every shard: from the moment anyone (/readyz) sees it,
    // answers carry the degraded hint, not only after the next write or read fails.
    if (!client_->cluster() && ever_up_.load()) {
      all_failed_ms_ = steady_ms();
      degraded_ = true;
    }
    return false;
  }
  ever_up_ = true;
  if (degraded_.load()) {
    std::lock_guard lk(mu_);
    if (std::chrono::steady_clock::now() - last_failure_ > kDegradedHold) return true;
    why = "answering from the local view: " + last_error_;
    return false;
  }
  return true;
}

void RedisStreamStore::fail(const char* op, const std::string& why) {
  bool was = degraded_.exchange(true);
  auto now = std::chrono::steady_clock::now();
  bool say = false;
  {
    std::lock_guard lk(mu_);
    last_error_ = why;
    last_failure_ = now;
    if (!was && now - last_log_ >= kTransitionLogGap) {
      last_log_ = now;
      say = true;
    }
  }
  if (say) log::warn("redis store degraded", {{"op", op}, {"error", why}});
}

void RedisStreamStore::succeed() {
  if (!degraded_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard lk(mu_);
    // A failure a moment ago (another request of the same outage) keeps the flag.
    if (std::chrono::steady_clock::now() - last_failure_ < std::chrono::milliseconds(200)) return;
  }
  if (!degraded_.exchange(false)) return;
  bool say = false;
  {
    std::lock_guard lk(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - last_log_ >= kTransitionLogGap) {
      last_log_ = now;
      say = true;
    }
  }
  if (say) log::info("redis store recovered");
}

// ---- the reader ------------------------------------------------------------------------------

namespace {

// Sends every request, waits (bounded) for every answer.
std::vector<redis::Result> run_batch(redis::Client& c, const std::vector<std::pair<std::vector<std::string>, std::string>>& reqs,
                                     std::chrono::milliseconds timeout) {
  auto b = std::make_shared<Batch>();
  b->left = reqs.size();
  b->results.resize(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i)
    c.execute(reqs[i].first, reqs[i].second, timeout, [b, i](redis::Result&& r) {
      std::lock_guard lk(b->mu);
      b->results[i] = std::move(r);
      if (--b->left == 0) b->cv.notify_all();
    });
  std::unique_lock lk(b->mu);
  // The client answers every request by its deadline; the extra second only guards shutdown.
  if (!b->cv.wait_for(lk, timeout + std::chrono::seconds(1), [&] { return b->left == 0; })) {
    std::vector<redis::Result> out(reqs.size());
    for (auto& r : out) r.err = redis::Errc::timeout;
    return out;
  }
  return std::move(b->results);
}

}  // namespace

void RedisStreamStore::run() {
  while (!stop_) {
    bool busy = false;
    try {
      busy = round();
    } catch (const std::exception& e) {
      log::error("redis stream reader", {{"error", e.what()}});
    }
    std::unique_lock lk(wake_mu_);
    wake_.wait_for(lk, busy ? std::chrono::milliseconds(0) : opts_.poll_min, [&] { return stop_ || wake_flag_; });
    wake_flag_ = false;
  }
  // Announces still waiting for a catch-up get their answer from the local view.
  std::vector<std::shared_ptr<Release>> rs;
  {
    std::shared_lock lk(map_mu_);
    for (auto& [h, r] : releases_) rs.push_back(r);
  }
  for (auto& r : rs) {
    std::vector<std::function<void()>> w;
    {
      std::lock_guard lk(r->mu);
      r->ready = true;
      w.swap(r->waiting);
    }
    for (auto& f : w) f();
  }
}

void RedisStreamStore::load_snapshot(Release& r, Shard& s, const std::string& blob, bool initial) {
  (void)initial;
  Reader in{blob.data(), blob.data() + blob.size()};
  if (in.u8() != 'S') return;
  std::string pos = in.str();
  int64_t completed = static_cast<int64_t>(in.varint());
  int64_t uploaded = static_cast<int64_t>(in.varint());
  int64_t downloaded = static_cast<int64_t>(in.varint());
  uint64_t n = in.varint();
  if (!in.ok || !(StreamId::parse(s.pos) < StreamId::parse(pos))) return;  // nothing newer than what we have
  for (uint64_t i = 0; i < n && in.ok; ++i) {
    Record rec;
    if (!decode(in, rec)) break;
    AnnounceOp op;
    op.info_hash = r.h;
    op.peer = std::move(rec.peer);
    op.policy.numwant = 0;
    AnnounceResult ignored;
    local_.announce_sync(op, ignored);
  }
  r.completed += completed - s.completed;
  r.uploaded += uploaded - s.uploaded;
  r.downloaded += downloaded - s.downloaded;
  s.completed = completed;
  s.uploaded = uploaded;
  s.downloaded = downloaded;
  s.pos = pos;
}

void RedisStreamStore::apply(Release& r, Shard& s, const std::string& id, const std::string& value) {
  s.pos = id;
  s.since_snapshot++;
  Reader in{value.data(), value.data() + value.size()};
  Record rec;
  if (!decode(in, rec)) return;
  if (rec.type == kRecReset) {
    if (rec.replica == replica_) return;
    local_.remove_swarm(r.h);
    for (auto& sh : r.shards) sh.completed = sh.uploaded = sh.downloaded = 0;
    r.completed = r.uploaded = r.downloaded = 0;
    return;
  }
  s.completed += static_cast<int64_t>(rec.fx.completed);
  s.uploaded += static_cast<int64_t>(rec.fx.uploaded);
  s.downloaded += static_cast<int64_t>(rec.fx.downloaded);
  if (rec.replica == replica_) return;  // applied to the view (and counted) when it was announced here
  r.completed += static_cast<int64_t>(rec.fx.completed);
  r.uploaded += static_cast<int64_t>(rec.fx.uploaded);
  r.downloaded += static_cast<int64_t>(rec.fx.downloaded);
  AnnounceOp op;
  op.info_hash = r.h;
  op.event = rec.event;
  op.peer = std::move(rec.peer);
  op.policy.numwant = 0;
  AnnounceResult ignored;
  local_.announce_sync(op, ignored);
  applied_.fetch_add(1, std::memory_order_relaxed);
  if (m_->applied) m_->applied->inc();
}

namespace {

// XREAD reply → (id, value of field "d") pairs.
template <typename Fn>
size_t for_each_entry(const redis::Reply& reply, Fn fn) {
  size_t n = 0;
  if (reply.type != redis::Reply::Type::array) return 0;
  for (const auto& stream : reply.elements) {
    if (stream.elements.size() < 2) continue;
    for (const auto& e : stream.elements[1].elements) {
      if (e.elements.size() < 2) continue;
      const auto& fields = e.elements[1].elements;
      for (size_t i = 0; i + 1 < fields.size(); i += 2)
        if (fields[i].str == "d") fn(e.elements[0].str, fields[i + 1].str);
      ++n;
    }
  }
  return n;
}

}  // namespace

void RedisStreamStore::catch_up(const std::vector<std::shared_ptr<Release>>& rs) {
  auto deadline = std::chrono::steady_clock::now() + opts_.catch_up_timeout;
  std::vector<std::pair<std::vector<std::string>, std::string>> reqs;
  for (const auto& r : rs)
    for (const auto& s : r->shards) reqs.push_back({{"GET", s.snap}, s.snap});
  auto res = run_batch(*client_, reqs, opts_.catch_up_timeout);
  std::vector<bool> failed(rs.size(), false);
  size_t i = 0;
  for (size_t ri = 0; ri < rs.size(); ++ri)
    for (auto& s : rs[ri]->shards) {
      auto& x = res[i++];
      if (!x.ok() || x.reply.is_error()) {
        failed[ri] = true;
        s.resync = true;
        s.failed_ms = steady_ms();
        continue;
      }
      if (x.reply.type == redis::Reply::Type::string) load_snapshot(*rs[ri], s, x.reply.str, true);
    }
  // Then the streams from there, a few batches at most within the deadline; the normal rounds read the rest.
  for (int round = 0; round < kCatchUpRounds && std::chrono::steady_clock::now() < deadline; ++round) {
    std::vector<std::pair<Release*, Shard*>> who;
    reqs.clear();
    for (size_t ri = 0; ri < rs.size(); ++ri) {
      if (failed[ri]) continue;
      for (auto& s : rs[ri]->shards) {
        who.push_back({rs[ri].get(), &s});
        reqs.push_back({{"XREAD", "COUNT", std::to_string(opts_.read_batch), "STREAMS", s.stream, s.pos}, s.stream});
      }
    }
    if (reqs.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    res = run_batch(*client_, reqs, std::max(left, std::chrono::milliseconds(10)));
    bool more = false;
    for (size_t j = 0; j < res.size(); ++j) {
      auto [r, s] = who[j];
      if (!res[j].ok() || res[j].reply.is_error()) {
        s->resync = true;
        continue;
      }
      size_t n = for_each_entry(res[j].reply, [&](const std::string& id, const std::string& v) { apply(*r, *s, id, v); });
      if (n >= opts_.read_batch) more = true;
    }
    if (!more) break;
  }
  bool any_failed = false;
  for (size_t ri = 0; ri < rs.size(); ++ri) any_failed |= failed[ri];
  if (any_failed) {  // before the waiting announces are answered: they carry the degraded hint
    if (m_->errors_read) m_->errors_read->inc();
    fail("catch-up", "cannot read a release's snapshots");
  }
  for (size_t ri = 0; ri < rs.size(); ++ri) {
    std::vector<std::function<void()>> w;
    {
      std::lock_guard lk(rs[ri]->mu);
      rs[ri]->ready = true;
      w.swap(rs[ri]->waiting);
    }
    for (auto& f : w) f();
  }
}

bool RedisStreamStore::round() {
  std::vector<std::shared_ptr<Release>> rs, loading;
  {
    std::shared_lock lk(map_mu_);
    rs.reserve(releases_.size());
    for (auto& [h, r] : releases_) rs.push_back(r);
  }
  for (auto& r : rs) {
    std::lock_guard lk(r->mu);
    if (!r->ready) loading.push_back(r);
  }
  // The client knows at once when a node went away: mark every shard before the first write
  // or read fails, so the very next announces already carry the degraded hint.
  // (In a cluster only the shards of the master that is gone fail, by their own requests.)
  std::string why;
  if (!client_->cluster()) {
    if (!client_->up(why)) {
      if (ever_up_.load()) {
        all_failed_ms_ = steady_ms();
        fail("redis", why);
      }
    } else {
      ever_up_ = true;
    }
  }
  if (!loading.empty()) catch_up(loading);

  auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<std::vector<std::string>, std::string>> reqs;
  struct Who {
    Release* r;
    Shard* s;
    bool gap_check;
  };
  std::vector<Who> who;
  std::vector<Release*> polled;
  for (auto& r : rs) {
    if (r->removed || now < r->next_poll) continue;
    {
      std::lock_guard lk(r->mu);
      if (!r->ready) continue;
    }
    polled.push_back(r.get());
    for (auto& s : r->shards) {
      if (s.resync) {
        // After a failed read: the first entry tells whether the stream was trimmed past pos.
        who.push_back({r.get(), &s, true});
        reqs.push_back({{"XRANGE", s.stream, "-", "+", "COUNT", "1"}, s.stream});
      } else {
        who.push_back({r.get(), &s, false});
        reqs.push_back({{"XREAD", "COUNT", std::to_string(opts_.read_batch), "STREAMS", s.stream, s.pos}, s.stream});
      }
    }
  }
  if (reqs.empty()) {
    snapshot_due(rs);
    return false;
  }
  auto t_read = std::chrono::steady_clock::now();
  auto res = run_batch(*client_, reqs, opts_.request_timeout);
  if (m_->latency_read)
    m_->latency_read->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_read).count());
  std::unordered_map<Release*, size_t> got;
  std::vector<std::pair<Release*, Shard*>> need_snapshot;
  bool failed = false;
  for (size_t j = 0; j < res.size(); ++j) {
    auto& w = who[j];
    auto& x = res[j];
    if (!x.ok() || x.reply.is_error()) {
      failed = true;
      w.s->resync = true;
      w.s->failed_ms = steady_ms();
      continue;
    }
    if (w.r->removed) continue;
    if (w.gap_check) {
      w.s->resync = false;
      if (x.reply.type == redis::Reply::Type::array && !x.reply.elements.empty() &&
          !x.reply.elements[0].elements.empty()) {
        StreamId first = StreamId::parse(x.reply.elements[0].elements[0].str);
        StreamId pos = StreamId::parse(w.s->pos);
        if (pos < first && w.s->pos != "0-0") need_snapshot.push_back({w.r, w.s});
      }
      continue;
    }
    size_t n = for_each_entry(x.reply, [&](const std::string& id, const std::string& v) { apply(*w.r, *w.s, id, v); });
    got[w.r] += n;
  }
  if (failed) {
    if (m_->errors_read) m_->errors_read->inc();
    fail("read", "cannot read swarm streams");
  } else {
    succeed();
  }
  if (!need_snapshot.empty()) {
    // Records were trimmed before this replica read them: bridge the gap with the snapshots.
    reqs.clear();
    for (auto& [r, s] : need_snapshot) reqs.push_back({{"GET", s->snap}, s->snap});
    auto snaps = run_batch(*client_, reqs, opts_.request_timeout);
    for (size_t j = 0; j < snaps.size(); ++j)
      if (snaps[j].ok() && snaps[j].reply.type == redis::Reply::Type::string)
        load_snapshot(*need_snapshot[j].first, *need_snapshot[j].second, snaps[j].reply.str, false);
  }
  bool busy = false;
  now = std::chrono::steady_clock::now();
  for (Release* r : polled) {
    size_t n = got[r];
    if (n > 0) {
      r->backoff = opts_.poll_min;
      busy = true;
    } else {
      r->backoff = std::min(opts_.poll_max, std::max(opts_.poll_min, r->backoff * 2));
    }
    r->next_poll = now + r->backoff;
  }
  snapshot_due(rs);
  return busy;
}

void RedisStreamStore::snapshot_due(const std::vector<std::shared_ptr<Release>>& rs) {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<Release*, Shard*>> due;
  for (auto& r : rs) {
    if (r->removed) continue;
    {
      std::lock_guard lk(r->mu);
      if (!r->ready) continue;
    }
    size_t per_shard = r->peers.load() / opts_.shards + 1;
    // A snapshot every half a shard of records while the stream keeps 1.5 shards: the newest
    // snapshot always lies inside what the stream still keeps (3× margin), and writing
    // snapshots costs two record encodings per published record.
    uint64_t every = std::max<uint64_t>(opts_.min_stream_len / 4, per_shard / 2);
    for (auto& s : r->shards) {
      if (s.resync || s.since_snapshot == 0) continue;
      if (s.since_snapshot >= every || now - s.last_snapshot >= opts_.snapshot_every) due.push_back({r.get(), &s});
    }
  }
  if (due.empty()) return;
  // One replica per shard writes it: the lock only dedups replicas that reach the threshold together.
  std::vector<std::pair<std::vector<std::string>, std::string>> reqs;
  for (auto& [r, s] : due)
    reqs.push_back({{"SET", s->lock, std::to_string(replica_), "NX", "PX", "2000"}, s->lock});
  auto locks = run_batch(*client_, reqs, opts_.request_timeout);
  std::unordered_map<Release*, std::vector<Shard*>> won;
  for (size_t j = 0; j < due.size(); ++j) {
    auto [r, s] = due[j];
    s->since_snapshot = 0;
    s->last_snapshot = now;
    if (locks[j].ok() && locks[j].reply.type == redis::Reply::Type::status) won[r].push_back(s);
    else if (!locks[j].ok() && m_->errors_snapshot) m_->errors_snapshot->inc();
  }
  reqs.clear();
  for (auto& [r, shards] : won) {
    std::vector<std::string> bodies(opts_.shards);
    std::vector<uint64_t> counts(opts_.shards, 0);
    std::vector<bool> want(opts_.shards, false);
    for (Shard* s : shards) want[static_cast<size_t>(s - r->shards.data())] = true;
    local_.for_each_peer(r->h, [&](const PeerData& p) {
      uint32_t k = shard_of(p.device);
      if (!want[k]) return;
      Record rec;
      rec.peer = p;
      std::string e = encode(rec);
      bodies[k] += e;
      counts[k]++;
    });
    for (Shard* s : shards) {
      size_t k = static_cast<size_t>(s - r->shards.data());
      std::string blob = "S";
      put_varint(blob, s->pos.size());
      blob += s->pos;
      put_varint(blob, static_cast<uint64_t>(std::max<int64_t>(0, s->completed)));
      put_varint(blob, static_cast<uint64_t>(std::max<int64_t>(0, s->uploaded)));
      put_varint(blob, static_cast<uint64_t>(std::max<int64_t>(0, s->downloaded)));
      put_varint(blob, counts[k]);
      blob += bodies[k];
      reqs.push_back({{"SET", s->snap, std::move(blob)}, s->snap});
    }
  }
  if (reqs.empty()) return;
  auto res = run_batch(*client_, reqs, opts_.request_timeout);
  for (auto& x : res) {
    if (x.ok() && !x.reply.is_error()) {
      snapshots_.fetch_add(1, std::memory_order_relaxed);
      if (m_->snapshots) m_->snapshots->inc();
    } else if (m_->errors_snapshot) {
      m_->errors_snapshot->inc();
    }
  }
}

}  // namespace otaswarm::store
