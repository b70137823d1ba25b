#include "tracker/store/redis_store.h"

#include <cstring>

#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm::store {

namespace {

// Counts the scripts return first, in this order; peer records follow in the announce reply.
constexpr size_t kCountFields = 15;  // status, seeders, leechers, completed, up, down, nat×4, tiers×4
// Background count refreshes per maintain() call: bounded work whatever the number of swarms.
constexpr size_t kCountRefreshBatch = 256;
constexpr size_t kMaxCachedSwarms = 1'000'000;
// After a failure, readiness stays down this long even if the connection is back (flapping guard).
constexpr auto kDegradedHold = std::chrono::seconds(2);
// Under overload the store can flip between degraded and recovered per request: log sparsely.
constexpr auto kTransitionLogGap = std::chrono::seconds(10);
constexpr size_t kBlobBytes = 20 + 17 + 2 + 1 + 17 + 2;
constexpr size_t kHeaderFields = 12;

// Shared by every script: key names, record header parsing and the live counts.
// Record: "window|seeder|reach|nat|lanhex|isp|region|up|down|ipfam|lanfam|seen|" + C++ blob.
constexpr const char* kPrelude = R"LUA(
local base = KEYS[1]
local g = redis.call('GET', base .. ':gen') or '0'
local pre = base .. ':' .. g .. ':'
local w = tonumber(ARGV[1])
local ckey = pre .. 'c'
local function nkey(win) return pre .. 'n:' .. win end
local function num(v) return tonumber(v or '0') or 0 end
local function counts(status)
  local a = redis.call('HMGET', nkey(w), 's', 'l', 'n0', 'n1', 'n2', 'n3')
  local b = redis.call('HMGET', nkey(w - 1), 's', 'l', 'n0', 'n1', 'n2', 'n3')
  local c = redis.call('HMGET', ckey, 'done', 'up', 'down', 't0', 't1', 't2', 't3')
  local out = {status}
  out[2] = string.format('%d', math.max(0, num(a[1]) + num(b[1])))
  out[3] = string.format('%d', math.max(0, num(a[2]) + num(b[2])))
  out[4] = c[1] or '0'
  out[5] = c[2] or '0'
  out[6] = c[3] or '0'
  for i = 0, 3 do out[7 + i] = string.format('%d', math.max(0, num(a[3 + i]) + num(b[3 + i]))) end
  for i = 0, 3 do out[11 + i] = c[4 + i] or '0' end
  out[15] = ''
  return out
end
)LUA";

constexpr const char* kAnnounce = R"LUA(
local ttl = tonumber(ARGV[2])
local dev, ev = ARGV[3], tonumber(ARGV[4])
local seeder, reach, nat = ARGV[5], ARGV[6], ARGV[7]
local lan, isp, reg = ARGV[8], ARGV[9], ARGV[10]
local up, down = tonumber(ARGV[11]), tonumber(ARGV[12])
local blob = ARGV[13]
local numwant, outside = tonumber(ARGV[14]), tonumber(ARGV[15])
local flags = ARGV[16]
local locality, reachability = flags:sub(1, 1) == '1', flags:sub(2, 2) == '1'
local want4, want6 = flags:sub(3, 3) == '1', flags:sub(4, 4) == '1'
local ipfam, lanfam = ARGV[17], ARGV[18]
math.randomseed(tonumber(ARGV[19]))
local maxpeers = tonumber(ARGV[20])
local now, min_ms = tonumber(ARGV[21]), tonumber(ARGV[22])

local HDR = '^(%d+)|([01])|(%d)|(%d)|(%x*)|(%d+)|(%d+)|(%d+)|(%d+)|(%d)|(%d)|(%d+)|'
local function parse(rec)
  local ow, os, orc, on, ol, oi, ore, ou, od, f1, f2, ts = string.match(rec, HDR)
  if not ow then return nil end
  return {w = tonumber(ow), s = os, rc = orc, n = on, l = ol, i = oi, r = ore, up = tonumber(ou),
          down = tonumber(od), f = f1, lf = f2, ts = tonumber(ts)}
end
local function groups(l, i, r)
  local t = {'a'}
  if l ~= '' then t[#t + 1] = 'l' .. l end
  if i ~= '0' then t[#t + 1] = 'i' .. i end
  if r ~= '0' then t[#t + 1] = 'r' .. r end
  return t
end
local function skey(win, grp, s, rc) return pre .. 'w' .. win .. ':' .. grp .. ':' .. s .. rc end
local function count_delta(win, s, n, d)
  local k = nkey(win)
  redis.call('HINCRBY', k, s == '1' and 's' or 'l', d)
  redis.call('HINCRBY', k, 'n' .. n, d)
  redis.call('EXPIRE', k, ttl)
end
local function unlink(o)
  for _, grp in ipairs(groups(o.l, o.i, o.r)) do redis.call('SREM', skey(o.w, grp, o.s, o.rc), dev) end
  if o.w == w or o.w == w - 1 then count_delta(o.w, o.s, o.n, -1) end
end

local rkey = pre .. 'd:' .. dev
local oldrec = redis.call('GET', rkey)
local old = oldrec and parse(oldrec) or nil
local live = old ~= nil and old.w >= w - 1

-- Byte counters and completion on every event, stopped included (same rules as MemoryStore):
-- clients restart counters per session; a leecher back with left=0 completes once.
local function account(o)
  local pu, pd = 0, 0
  if o then pu, pd = o.up, o.down end
  local fresh = ev == 2
  local du = (fresh or up < pu) and up or up - pu
  local dd = (fresh or down < pd) and down or down - pd
  if du > 0 then redis.call('HINCRBY', ckey, 'up', string.format('%d', du)) end
  if dd > 0 then redis.call('HINCRBY', ckey, 'down', string.format('%d', dd)) end
  if not (o and o.s == '1') and (ev == 1 or (o and seeder == '1')) then redis.call('HINCRBY', ckey, 'done', 1) end
end

if ev == 3 then
  if old then
    if live then account(old) end
    unlink(old)
    redis.call('DEL', rkey)
  end
  return counts('ok')
end

-- An early periodic re-announce changes nothing: answer from the counts, skip the selection.
if ev == 0 and live and min_ms > 0 and (now - old.ts) * 1000 < min_ms then return counts('soon') end

if not live then
  local c = counts('ok')
  if tonumber(c[2]) + tonumber(c[3]) >= maxpeers then return counts('limit') end
end
local same = live and old.w == w and old.s == seeder and old.rc == reach and old.n == nat and old.l == lan and
             old.i == isp and old.r == reg
if not same then
  if old then unlink(old) end
  for _, grp in ipairs(groups(lan, isp, reg)) do
    local k = skey(w, grp, seeder, reach)
    redis.call('SADD', k, dev)
    redis.call('EXPIRE', k, ttl)
  end
  count_delta(w, seeder, nat, 1)
end
account(live and old or nil)
redis.call('SET', rkey, w .. '|' .. seeder .. '|' .. reach .. '|' .. nat .. '|' .. lan .. '|' .. isp .. '|' .. reg ..
           '|' .. string.format('%d', up) .. '|' .. string.format('%d', down) .. '|' .. ipfam .. '|' .. lanfam .. '|' ..
           string.format('%d', now) .. '|' .. blob, 'EX', ttl)

local result = counts('ok')
if numwant <= 0 then return result end

local allowed = {}
local function pair_ok(a, b)
  if a == 0 or b == 0 or a == 1 or b == 1 then return true end
  return a == 2 and b == 2
end
for rc = 0, 3 do allowed[rc] = (not reachability) or pair_ok(tonumber(reach), rc) end
local picked = {[dev] = true}
local cards = {}
local tiers = {0, 0, 0, 0}
local nout = 0

local function take(grp, want, outside_only)
  if want <= 0 then return end
  local got = 0
  for sc = 1, 0, -1 do
    if got >= want then break end
    if not (seeder == '1' and sc == 1) then
      local sets, total = {}, 0
      for rc = 0, 3 do
        if allowed[rc] then
          for _, win in ipairs({w, w - 1}) do
            local k = skey(win, grp, tostring(sc), tostring(rc))
            local n = cards[k]
            if n == nil then
              n = redis.call('SCARD', k)
              cards[k] = n
            end
            if n > 0 then
              sets[#sets + 1] = {k, n, win, tostring(rc)}
              total = total + n
            end
          end
        end
      end
      if total > 0 then
        -- Draw from each set in proportion to its size, so the union is sampled about uniformly;
        -- half again what is needed covers filtered and already-picked peers. Parallel arrays,
        -- not a table per candidate: allocation is what costs in the script.
        local need = want - got
        local budget = need + math.ceil(need / 2) + 4
        local cd, cw, cr, n = {}, {}, {}, 0
        for _, s in ipairs(sets) do
          local cnt = math.min(s[2], math.ceil(budget * s[2] / total))
          for _, d in ipairs(redis.call('SRANDMEMBER', s[1], cnt)) do
            n = n + 1
            cd[n], cw[n], cr[n] = d, s[3], s[4]
          end
        end
        for i = n, 2, -1 do
          local j = math.random(i)
          cd[i], cd[j] = cd[j], cd[i]
          cw[i], cw[j] = cw[j], cw[i]
          cr[i], cr[j] = cr[j], cr[i]
        end
        -- Records are read with one MGET per chunk (same hash tag, same node), not one GET each.
        local scs = tostring(sc)
        local pos, seen = 1, {}
        while got < want and pos <= n do
          local idx, keys = {}, {}
          while pos <= n and #idx < (want - got) + 4 do
            local d = cd[pos]
            if not picked[d] and not seen[d] then
              seen[d] = true
              idx[#idx + 1] = pos
              keys[#keys + 1] = pre .. 'd:' .. d
            end
            pos = pos + 1
          end
          if #keys == 0 then break end
          local recs = redis.call('MGET', unpack(keys))
          for i, ci in ipairs(idx) do
            local rec = recs[i]
            local o = got < want and rec and parse(rec)
            if o and o.w == cw[ci] and o.s == scs and o.rc == cr[ci] and (not outside_only or isp == '0' or o.i ~= isp) then
              local lanaddr = lan ~= '' and o.l == lan and o.lf ~= '0'
              local fam = lanaddr and o.lf or o.f
              if (fam == '4' and want4) or (fam == '6' and want6) then
                picked[cd[ci]] = true
                got = got + 1
                nout = nout + 1
                result[kcount + nout] = rec
                local t = 3
                if lan ~= '' and o.l == lan then t = 0 elseif isp ~= '0' and o.i == isp then t = 1
                elseif reg ~= '0' and o.r == reg then t = 2 end
                tiers[t + 1] = tiers[t + 1] + 1
              end
            end
          end
        end
      end
    end
  end
end

local function left() return numwant - nout end
if locality then
  local reserve = math.min(outside, numwant)
  if lan ~= '' then
    -- Same-LAN peers are reached over their LAN address: no NAT in between, every class pairs.
    local saved = allowed
    allowed = {[0] = true, true, true, true}
    take('l' .. lan, left(), false)
    allowed = saved
  end
  if isp ~= '0' and left() > reserve then take('i' .. isp, left() - reserve, false) end
  if reg ~= '0' and left() > reserve then take('r' .. reg, left() - reserve, true) end
  take('a', math.min(left(), reserve), true)
end
take('a', left(), false)
-- A list with no reachable peer is useless: fall back to any class rather than nothing.
if reachability and nout == 0 and tonumber(result[2]) + tonumber(result[3]) > 1 then
  for rc = 0, 3 do allowed[rc] = true end
  take('a', left(), false)
end
for t = 0, 3 do
  if tiers[t + 1] > 0 then redis.call('HINCRBY', ckey, 't' .. t, tiers[t + 1]) end
end
return result
)LUA";

constexpr const char* kCounts = R"LUA(
return counts('ok')
)LUA";

constexpr const char* kRemove = R"LUA(
redis.call('DEL', ckey)
redis.call('INCR', base .. ':gen')
return counts('ok')
)LUA";

enum Script { kScriptAnnounce = 0, kScriptCounts = 1, kScriptRemove = 2, kScriptCount = 3 };

struct ScriptText {
  std::string body;
  std::string sha;
};

const std::array<ScriptText, kScriptCount>& scripts() {
  static const std::array<ScriptText, kScriptCount> s = [] {
    std::array<ScriptText, kScriptCount> out;
    const char* bodies[kScriptCount] = {kAnnounce, kCounts, kRemove};
    for (int i = 0; i < kScriptCount; ++i) {
      out[i].body = std::string(kPrelude) + "local kcount = " + std::to_string(kCountFields) + "\n" + bodies[i];
      out[i].sha = crypto::hex(crypto::sha1(out[i].body));
    }
    return out;
  }();
  return s;
}

void put_ip(std::string& out, const Ip& ip) {
  out.append(reinterpret_cast<const char*>(ip.b.data()), ip.b.size());
  out.push_back(ip.v6 ? 1 : 0);
}

void put_u16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

Ip get_ip(const char* p) {
  Ip ip;
  std::memcpy(ip.b.data(), p, 16);
  ip.v6 = p[16] != 0;
  return ip;
}

uint16_t get_u16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

std::string lan_hex(uint64_t lan) {
  if (lan == 0) return {};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(lan));
  return buf;
}

uint64_t as_u64(const redis::Reply& r) {
  int64_t v = r.as_int(0);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

bool parse_counts(const redis::Reply& r, SwarmCounts& c, std::string& status) {
  if (r.type != redis::Reply::Type::array || r.elements.size() < kCountFields) return false;
  const auto& e = r.elements;
  status = e[0].str;
  c.seeders = static_cast<uint32_t>(as_u64(e[1]));
  c.leechers = static_cast<uint32_t>(as_u64(e[2]));
  c.completed = as_u64(e[3]);
  c.uploaded = as_u64(e[4]);
  c.downloaded = as_u64(e[5]);
  for (size_t i = 0; i < kNatBucketCount; ++i) c.nat[i] = static_cast<uint32_t>(as_u64(e[6 + i]));
  for (size_t i = 0; i < kTierCount; ++i) c.tiers[i] = as_u64(e[10 + i]);
  return true;
}

// Peer record written by the announce script: a text header Lua can match, then our blob.
bool parse_peer(const std::string& rec, const PeerData& me, SelectedPeer& out) {
  size_t pos = 0;
  std::array<std::string_view, kHeaderFields> f;
  for (size_t i = 0; i < kHeaderFields; ++i) {
    size_t bar = rec.find('|', pos);
    if (bar == std::string::npos) return false;
    f[i] = std::string_view(rec).substr(pos, bar - pos);
    pos = bar + 1;
  }
  if (rec.size() - pos < kBlobBytes) return false;
  const char* b = rec.data() + pos;
  std::memcpy(out.peer_id.data(), b, 20);
  Ip ip = get_ip(b + 20);
  uint16_t port = get_u16(b + 37);
  bool has_lan = b[39] != 0;
  Ip lip = get_ip(b + 40);
  uint16_t lport = get_u16(b + 57);
  out.seeder = f[1] == "1";
  auto reach = static_cast<Reach>(f[2].empty() ? 0 : (f[2][0] - '0') & 3);
  std::string mylan = lan_hex(me.loc.lan);
  std::string isp = std::to_string(me.loc.isp), region = std::to_string(me.loc.region);
  bool same_lan = !mylan.empty() && f[4] == mylan;
  if (same_lan) out.tier = Tier::lan;
  else if (me.loc.isp != 0 && f[5] == isp) out.tier = Tier::isp;
  else if (me.loc.region != 0 && f[6] == region) out.tier = Tier::region;
  else out.tier = Tier::other;
  bool lan_addr = same_lan && has_lan;
  out.ip = lan_addr ? lip : ip;
  out.port = lan_addr ? lport : port;
  out.pairing = lan_addr ? Pairing::direct : pairing(me.reach, reach);
  return true;
}

bool is_noscript(const redis::Result& r) {
  return r.err == redis::Errc::server_error && r.message.starts_with("NOSCRIPT");
}

}  // namespace

struct RedisStore::Metrics {
  metrics::Histogram* latency[kScriptCount]{};
  metrics::Counter* errors[kScriptCount]{};
  metrics::Counter* shed = nullptr;
};

RedisStore::RedisStore(std::unique_ptr<redis::Client> client, RedisStoreOptions opts, const Clock& clock,
                       metrics::Registry* reg)
    : opts_(std::move(opts)),
      clock_(clock),
      window_s_(std::max<int64_t>(1, opts_.memory.peer_timeout_ms / 2000)),
      fallback_(opts_.memory, clock),
      m_(std::make_unique<Metrics>()),
      client_(std::move(client)) {
  if (!reg) return;
  static const char* names[kScriptCount] = {"announce", "scrape", "remove"};
  auto& lat = reg->histogram("otaswarm_store_request_duration_seconds", "Store round trip.", {"op"},
                             metrics::latency_buckets());
  auto& err = reg->counter("otaswarm_store_errors_total", "Failed store operations.", {"op"});
  for (int i = 0; i < kScriptCount; ++i) {
    m_->latency[i] = &lat.with({names[i]});
    m_->errors[i] = &err.with({names[i]});
  }
  m_->shed = &reg->counter("otaswarm_store_shed_total",
                           "Announces answered from the local fallback because Redis already had enough queued.")
                  .get();
  reg->callback("otaswarm_store_degraded", "1 while answering from the local fallback.", [this] {
    return std::vector<metrics::Sample>{{{}, degraded_.load() ? 1.0 : 0.0}};
  });
  reg->callback(
      "otaswarm_store_reconnects_total", "Reconnections to Redis nodes.",
      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(client_->stats().reconnects)}}; }, true);
  reg->callback("otaswarm_store_pipeline_depth", "Redis requests sent and not yet answered.", [this] {
    return std::vector<metrics::Sample>{{{}, static_cast<double>(client_->stats().in_flight)}};
  });
  reg->callback(
      "otaswarm_store_redirects_total", "MOVED/ASK redirections followed.",
      [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(client_->stats().redirects)}}; }, true);
}

RedisStore::~RedisStore() { client_.reset(); }

std::string RedisStore::backend() const { return client_->cluster() ? "redis-cluster" : "redis"; }

uint64_t RedisStore::script_seed() {
  if (!opts_.memory.seed) return crypto::random_u64();
  // splitmix64 over a counter: announces of a seeded tracker draw a fixed sequence.
  uint64_t z = opts_.memory.seed + 0x9e3779b97f4a7c15ULL * (script_calls_.fetch_add(1, std::memory_order_relaxed) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string RedisStore::swarm_key(const InfoHash& h) const { return opts_.key_prefix + ":{" + crypto::hex(h) + "}"; }

bool RedisStore::healthy(std::string& why) const {
  if (!client_->up(why)) return false;
  if (degraded_.load()) {
    std::lock_guard lk(mu_);
    // Redis is reachable again and nothing failed lately: ready, the next answer confirms it.
    if (std::chrono::steady_clock::now() - last_failure_ > kDegradedHold) return true;
    why = "answering from the local fallback: " + last_error_;
    return false;
  }
  return true;
}

void RedisStore::fail(const char* op, const std::string& why) {
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

void RedisStore::succeed() {
  if (!degraded_.exchange(false)) return;
  auto now = std::chrono::steady_clock::now();
  bool say = false;
  {
    std::lock_guard lk(mu_);
    if (now - last_log_ >= kTransitionLogGap) {
      last_log_ = now;
      say = true;
    }
  }
  if (say) log::info("redis store recovered");
}

void RedisStore::remember(const InfoHash& h, const SwarmCounts& c) {
  std::lock_guard lk(mu_);
  if (counts_.size() >= kMaxCachedSwarms && !counts_.count(h)) return;
  counts_[h] = c;
}

std::optional<SwarmCounts> RedisStore::cached(const InfoHash& h) const {
  std::lock_guard lk(mu_);
  auto it = counts_.find(h);
  if (it == counts_.end()) return std::nullopt;
  return it->second;
}

void RedisStore::run_script(int which, std::vector<std::string> args, const std::string& key,
                            std::chrono::milliseconds timeout, redis::Callback cb) {
  const ScriptText& s = scripts()[which];
  std::vector<std::string> cmd;
  cmd.reserve(args.size() + 4);
  // Removal is rare and must not be overtaken by a later announce through a NOSCRIPT retry.
  bool by_body = which == kScriptRemove;
  cmd.push_back(by_body ? "EVAL" : "EVALSHA");
  cmd.push_back(by_body ? s.body : s.sha);
  cmd.push_back("1");
  cmd.push_back(key);
  for (auto& a : args) cmd.push_back(std::move(a));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto retry_cmd = std::make_shared<std::vector<std::string>>(cmd);
  client_->execute(std::move(cmd), key, timeout,
                   [this, which, key, deadline, retry_cmd, cb = std::move(cb)](redis::Result&& r) mutable {
                     if (!is_noscript(r)) return cb(std::move(r));
                     // A node that never saw the script (new, restarted, failed over): EVAL caches it there.
                     auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                         deadline - std::chrono::steady_clock::now());
                     if (left.count() <= 0) return cb(std::move(r));
                     (*retry_cmd)[0] = "EVAL";
                     (*retry_cmd)[1] = scripts()[which].body;
                     client_->execute(std::move(*retry_cmd), key, left, std::move(cb));
                   });
}

void RedisStore::announce(const AnnounceOp& op, AnnounceCallback cb) {
  // Mirror into the local fallback so a Redis outage still finds the peers this replica saw.
  AnnounceOp mirror = op;
  mirror.policy.numwant = 0;
  AnnounceResult ignored;
  fallback_.announce_sync(mirror, ignored);

  // Redis runs scripts one at a time: beyond this many queued, the newest would only wait out
  // the deadline. Answer them from the fallback now (shed) instead of 300 ms later.
  if (in_flight_.load(std::memory_order_relaxed) >= opts_.max_in_flight) {
    if (m_->shed) m_->shed->inc();
    return cb(Status::ok, degraded_answer(op));
  }
  in_flight_.fetch_add(1, std::memory_order_relaxed);

  const PeerData& p = op.peer;
  int64_t w = clock_.unix_seconds() / window_s_;
  std::string blob;
  blob.reserve(kBlobBytes);
  blob.append(reinterpret_cast<const char*>(p.peer_id.data()), 20);
  put_ip(blob, p.ip);
  put_u16(blob, p.port);
  blob.push_back(p.has_lan ? 1 : 0);
  put_ip(blob, p.lan_ip);
  put_u16(blob, p.lan_port);
  const auto& pol = op.policy;
  std::string flags = {pol.locality ? '1' : '0', pol.reachability ? '1' : '0', pol.want_v4 ? '1' : '0',
                       pol.want_v6 ? '1' : '0'};
  std::vector<std::string> args = {
      std::to_string(w),
      std::to_string(2 * window_s_ + 1),
      p.device,
      std::to_string(static_cast<int>(op.event == Event::paused ? Event::none : op.event)),
      p.left == 0 ? "1" : "0",
      std::to_string(static_cast<int>(p.reach)),
      std::to_string(static_cast<int>(p.nat)),
      lan_hex(p.loc.lan),
      std::to_string(p.loc.isp),
      std::to_string(p.loc.region),
      std::to_string(p.uploaded),
      std::to_string(p.downloaded),
      std::move(blob),
      std::to_string(pol.numwant),
      std::to_string(pol.outside_isp),
      flags,
      p.ip.v6 ? "6" : "4",
      p.has_lan ? (p.lan_ip.v6 ? "6" : "4") : "0",
      std::to_string(script_seed() % (1u << 30)),
      std::to_string(opts_.memory.max_peers_per_swarm),
      std::to_string(clock_.unix_seconds()),
      std::to_string(op.min_interval_ms),
  };
  auto t0 = std::chrono::steady_clock::now();
  InfoHash h = op.info_hash;
  run_script(kScriptAnnounce, std::move(args), swarm_key(h), opts_.announce_timeout,
             [this, op, h, t0, cb = std::move(cb)](redis::Result&& r) {
               in_flight_.fetch_sub(1, std::memory_order_relaxed);
               // The process is exiting and the front ends' executors may be gone: drop the reply.
               if (r.err == redis::Errc::shutdown) return;
               if (m_->latency[kScriptAnnounce])
                 m_->latency[kScriptAnnounce]->observe(
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
               SwarmCounts c;
               std::string status;
               if (r.ok() && parse_counts(r.reply, c, status)) {
                 succeed();
                 if (status == "limit") return cb(Status::limit, {});
                 remember(h, c);
                 AnnounceResult out;
                 out.seeders = c.seeders;
                 out.leechers = c.leechers;
                 out.completed = c.completed;
                 out.too_soon = status == "soon";
                 const auto& e = r.reply.elements;
                 out.peers.reserve(e.size() - kCountFields);
                 for (size_t i = kCountFields; i < e.size(); ++i) {
                   SelectedPeer sp;
                   if (parse_peer(e[i].str, op.peer, sp)) out.peers.push_back(sp);
                 }
                 return cb(Status::ok, std::move(out));
               }
               if (m_->errors[kScriptAnnounce]) m_->errors[kScriptAnnounce]->inc();
               fail("announce", r.ok() ? "unexpected reply to the announce script" : r.message);
               cb(Status::ok, degraded_answer(op));
             });
}

AnnounceResult RedisStore::degraded_answer(const AnnounceOp& op) {
  // Peers this replica saw, the last counts Redis gave, a sooner re-announce.
  AnnounceOp select = op;
  // The mirror already applied this announce: select without counting its event a second time.
  select.min_interval_ms = 0;
  select.event = op.event == Event::stopped ? Event::stopped : Event::none;
  AnnounceResult out;
  fallback_.announce_sync(select, out);
  if (auto last = cached(op.info_hash)) {
    out.seeders = std::max(out.seeders, last->seeders);
    out.leechers = std::max(out.leechers, last->leechers);
    out.completed = std::max(out.completed, last->completed);
  }
  out.interval_hint = opts_.degraded_interval;
  return out;
}

void RedisStore::fetch_counts(const InfoHash& h, std::function<void(bool, SwarmCounts)> done) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> args = {std::to_string(clock_.unix_seconds() / window_s_)};
  run_script(kScriptCounts, std::move(args), swarm_key(h), opts_.scrape_timeout,
             [this, h, t0, done = std::move(done)](redis::Result&& r) {
               if (r.err == redis::Errc::shutdown) return;
               if (m_->latency[kScriptCounts])
                 m_->latency[kScriptCounts]->observe(
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
               SwarmCounts c;
               std::string status;
               if (r.ok() && parse_counts(r.reply, c, status)) {
                 succeed();
                 remember(h, c);
                 return done(true, c);
               }
               if (m_->errors[kScriptCounts]) m_->errors[kScriptCounts]->inc();
               fail("scrape", r.ok() ? "unexpected reply to the counts script" : r.message);
               done(false, {});
             });
}

void RedisStore::scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) {
  if (hashes.empty()) return cb(Status::ok, {});
  struct Gather {
    std::mutex mu;
    std::vector<SwarmCounts> out;
    size_t left;
    ScrapeCallback cb;
  };
  auto g = std::make_shared<Gather>();
  g->out.resize(hashes.size());
  g->left = hashes.size();
  g->cb = std::move(cb);
  for (size_t i = 0; i < hashes.size(); ++i) {
    InfoHash h = hashes[i];
    fetch_counts(h, [this, g, i, h](bool ok, SwarmCounts c) {
      if (!ok) c = cached(h).value_or(fallback_.counts(h));
      std::unique_lock lk(g->mu);
      g->out[i] = c;
      if (--g->left > 0) return;
      lk.unlock();
      g->cb(Status::ok, std::move(g->out));
    });
  }
}

SwarmCounts RedisStore::counts(const InfoHash& h) {
  if (auto c = cached(h)) return *c;
  // First sight of this swarm on this replica: fetch in the background, answer locally now.
  fetch_counts(h, [](bool, SwarmCounts) {});
  return fallback_.counts(h);
}

void RedisStore::remove_swarm(const InfoHash& h) {
  fallback_.remove_swarm(h);
  {
    std::lock_guard lk(mu_);
    counts_.erase(h);
  }
  auto t0 = std::chrono::steady_clock::now();
  run_script(kScriptRemove, {std::to_string(clock_.unix_seconds() / window_s_)}, swarm_key(h), opts_.scrape_timeout,
             [this, t0](redis::Result&& r) {
               if (m_->latency[kScriptRemove])
                 m_->latency[kScriptRemove]->observe(
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
               if (r.ok()) return;
               if (m_->errors[kScriptRemove]) m_->errors[kScriptRemove]->inc();
               log::warn("redis swarm removal failed; its keys expire by themselves", {{"error", r.message}});
             });
}

void RedisStore::maintain() {
  fallback_.maintain();
  std::vector<InfoHash> batch;
  {
    std::lock_guard lk(mu_);
    if (counts_.empty()) return;
    size_t skip = refresh_cursor_ % counts_.size();
    auto it = counts_.begin();
    std::advance(it, skip);
    for (size_t i = 0; i < std::min(kCountRefreshBatch, counts_.size()); ++i) {
      if (it == counts_.end()) it = counts_.begin();
      batch.push_back(it->first);
      ++it;
    }
    refresh_cursor_ += batch.size();
  }
  for (const auto& h : batch) fetch_counts(h, [](bool, SwarmCounts) {});
}

}  // namespace otaswarm::store
