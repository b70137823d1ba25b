#include "common/redis/client.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>

#include "common/log.h"

namespace otaswarm::redis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

const char* to_string(Errc e) {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::timeout: return "timeout";
    case Errc::unavailable: return "unavailable";
    case Errc::connection_lost: return "connection_lost";
    case Errc::server_error: return "server_error";
    case Errc::protocol: return "protocol";
    case Errc::overloaded: return "overloaded";
    case Errc::shutdown: return "shutdown";
  }
  return "unknown";
}

namespace {

// Deadlines, retries and reconnects are checked on this tick instead of one timer per request.
constexpr auto kTick = 10ms;
constexpr size_t kReadChunk = 64 * 1024;
// While a node is down the topology is re-read this often, to find the promoted replica fast.
constexpr auto kDownRefresh = 250ms;
// MOVED storms during a resharding trigger at most one CLUSTER SLOTS per this gap.
constexpr auto kMinRefreshGap = 100ms;
constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = Reply::Type::string; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = Reply::Type::status; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = Reply::Type::error; out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = Reply::Type::integer; out.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default: out.type = Reply::Type::nil; break;
  }
  return out;
}

struct Request {
  std::string encoded;
  std::string key;
  SteadyClock::time_point deadline;
  SteadyClock::time_point retry_at;
  Callback cb;
  bool done = false;
  int redirects = 0;
  std::optional<Endpoint> redirect;  // MOVED/ASK: the next attempt goes to this node
  bool asking = false;                // ASK: prefix the next attempt with ASKING
  Errc last_err = Errc::unavailable;
  std::string last_msg = "no reply";
};
using RequestPtr = std::shared_ptr<Request>;

void complete(const RequestPtr& r, Result&& res) {
  if (r->done) return;
  r->done = true;
  Callback cb = std::move(r->cb);
  try {
    cb(std::move(res));
  } catch (const std::exception& e) {
    log::error("redis callback threw", {{"error", e.what()}});
  }
}

struct Pending {
  RequestPtr req;  // null: the reply to an ASKING or AUTH prefix, not passed on
  SteadyClock::time_point sent;
  bool auth = false;  // an error reply to AUTH closes the connection
};

}  // namespace

struct Node;
class Connection;

struct Node {
  Endpoint ep;
  std::shared_ptr<Connection> conn;
  std::chrono::milliseconds backoff{0};
  SteadyClock::time_point next_attempt{};
  bool attempted = false;
  bool down = false;  // the last connect failed or the connection broke, not yet reconnected
  bool in_map = false;
  std::string last_error;
};

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  explicit Impl(ClientOptions o) : opts(std::move(o)), guard(io.get_executor()), tick(io), slots(kSlotCount, -1) {}

  ClientOptions opts;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  asio::steady_timer tick;
  std::vector<std::unique_ptr<Node>> nodes;  // never shrinks: a cluster has few nodes
  std::vector<int> slots;
  std::vector<RequestPtr> retry;
  bool have_topology = false;
  bool all_covered = false;
  bool refreshing = false;
  size_t refresh_cursor = 0;
  SteadyClock::time_point next_refresh{};
  SteadyClock::time_point last_refresh{};
  bool stopping = false;

  mutable std::mutex status_mu;
  bool status_up = false;
  std::string status_why = "connecting to redis";
  std::atomic<uint64_t> reconnects{0}, redirects{0}, refreshes{0}, in_flight{0};

  void start();
  void shutdown();
  void on_tick();
  void dispatch(const RequestPtr& r);
  void send_to(Node& n, const RequestPtr& r, bool asking);
  void retry_later(const RequestPtr& r, Errc err, std::string msg);
  void on_reply(Node& n, Pending&& p, Reply&& reply);
  void on_connected(Node& n);
  void on_closed(Node& n, const std::string& why);
  Connection* ensure_connection(Node& n);
  Node& node_for(const Endpoint& ep);
  int index_of(const Node& n) const;
  Node* any_node();
  void request_refresh();
  void refresh();
  bool apply_slots(const Reply& r, const Endpoint& asked);
  void update_status();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State { connecting, connected, closed };

  Connection(Client::Impl& owner, Node& node)
      : owner_(owner), node_(node), sock_(owner.io), resolver_(owner.io), reader_(redisReaderCreate()) {}
  ~Connection() {
    if (reader_) redisReaderFree(reader_);
  }

  State state() const { return state_; }
  std::deque<Pending>& pending() { return pending_; }
  SteadyClock::time_point connect_deadline() const { return connect_deadline_; }

  void start() {
    connect_deadline_ = SteadyClock::now() + owner_.opts.connect_timeout;
    if (!reader_) return fail(Errc::protocol, "out of memory for the reply parser");
    resolver_.async_resolve(node_.ep.host, std::to_string(node_.ep.port),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        tcp::resolver::results_type res) {
                              if (self->state_ != State::connecting) return;
                              if (ec) return self->fail(Errc::unavailable, "resolve: " + ec.message());
                              asio::async_connect(self->sock_, res,
                                                  [self](const boost::system::error_code& ec, const tcp::endpoint&) {
                                                    self->on_connect(ec);
                                                  });
                            });
  }

  void send(const RequestPtr& r, bool asking) {
    auto now = SteadyClock::now();
    if (asking) {
      out_ += kAsking;
      pending_.push_back({nullptr, now});
      owner_.in_flight++;
    }
    out_ += r->encoded;
    pending_.push_back({r, now});
    owner_.in_flight++;
    flush();
  }

  void fail(Errc err, const std::string& why) {
    if (state_ == State::closed) return;
    bool was_connected = state_ == State::connected;
    state_ = State::closed;
    boost::system::error_code ignored;
    resolver_.cancel();
    sock_.close(ignored);
    std::deque<Pending> failed;
    failed.swap(pending_);
    owner_.in_flight -= failed.size();
    auto self = shared_from_this();  // on_closed drops the node's reference
    owner_.on_closed(node_, why);
    for (auto& p : failed) {
      if (!p.req || p.req->done) continue;
      // Requests that never left this process may be retried; sent ones have an unknown outcome.
      if (!was_connected) owner_.retry_later(p.req, Errc::unavailable, why);
      else complete(p.req, {err == Errc::shutdown ? err : Errc::connection_lost, why, {}});
    }
  }

 private:
  void on_connect(const boost::system::error_code& ec) {
    if (state_ != State::connecting) return;
    if (ec) return fail(Errc::unavailable, "connect " + node_.ep.str() + ": " + ec.message());
    boost::system::error_code ignored;
    sock_.set_option(tcp::no_delay(true), ignored);
    state_ = State::connected;
    if (!owner_.opts.password.empty()) {
      // AUTH goes ahead of anything queued while connecting.
      std::vector<std::string> auth = {"AUTH"};
      if (!owner_.opts.username.empty()) auth.push_back(owner_.opts.username);
      auth.push_back(owner_.opts.password);
      out_.insert(0, encode_command(auth));
      pending_.push_front({nullptr, SteadyClock::now(), true});
      owner_.in_flight++;
    }
    owner_.on_connected(node_);
    read();
    flush();
  }

  void flush() {
    if (state_ != State::connected || writing_ || out_.empty()) return;
    wbuf_.swap(out_);
    out_.clear();
    writing_ = true;
    asio::async_write(sock_, asio::buffer(wbuf_), [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
      self->writing_ = false;
      self->wbuf_.clear();
      if (self->state_ != State::connected) return;
      if (ec) return self->fail(Errc::connection_lost, "write " + self->node_.ep.str() + ": " + ec.message());
      self->flush();
    });
  }

  void read() {
    sock_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
      if (self->state_ != State::connected) return;
      if (ec) return self->fail(Errc::connection_lost, "read " + self->node_.ep.str() + ": " + ec.message());
      if (redisReaderFeed(self->reader_, self->rbuf_.data(), n) != REDIS_OK)
        return self->fail(Errc::protocol, "reply parser refused input");
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(self->reader_, &raw) != REDIS_OK)
          return self->fail(Errc::protocol, std::string("bad reply: ") + self->reader_->errstr);
        if (!raw) break;
        Reply reply = convert(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (self->pending_.empty()) return self->fail(Errc::protocol, "reply without a request");
        Pending p = std::move(self->pending_.front());
        self->pending_.pop_front();
        self->owner_.in_flight--;
        if (p.auth && reply.is_error()) return self->fail(Errc::unavailable, "redis AUTH refused: " + reply.str);
        self->owner_.on_reply(self->node_, std::move(p), std::move(reply));
        if (self->state_ != State::connected) return;
      }
      self->read();
    });
  }

  Client::Impl& owner_;
  Node& node_;
  tcp::socket sock_;
  tcp::resolver resolver_;
  redisReader* reader_;
  State state_ = State::connecting;
  SteadyClock::time_point connect_deadline_{};
  std::deque<Pending> pending_;
  std::string out_, wbuf_;
  bool writing_ = false;
  std::array<char, kReadChunk> rbuf_{};
};

void Client::Impl::start() {
  for (const auto& ep : opts.seeds) node_for(ep);
  if (!opts.cluster && !nodes.empty()) {
    nodes[0]->in_map = true;
    have_topology = true;
  }
  asio::post(io, [self = shared_from_this()] {
    if (self->opts.cluster) self->refresh();
    else if (!self->nodes.empty()) self->ensure_connection(*self->nodes[0]);
    self->on_tick();
  });
}

void Client::Impl::shutdown() {
  stopping = true;
  tick.cancel();
  for (auto& n : nodes)
    if (n->conn) n->conn->fail(Errc::shutdown, "client shut down");
  auto r = std::move(retry);
  for (auto& req : r) complete(req, {Errc::shutdown, "client shut down", {}});
  guard.reset();
}

Node& Client::Impl::node_for(const Endpoint& ep) {
  for (auto& n : nodes)
    if (n->ep.host == ep.host && n->ep.port == ep.port) return *n;
  nodes.push_back(std::make_unique<Node>());
  nodes.back()->ep = ep;
  return *nodes.back();
}

int Client::Impl::index_of(const Node& n) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].get() == &n) return static_cast<int>(i);
  return -1;
}

Node* Client::Impl::any_node() {
  Node* best = nullptr;
  for (auto& n : nodes) {
    if (n->conn && n->conn->state() == Connection::State::connected) return n.get();
    if (!best && !n->down) best = n.get();
  }
  return best ? best : (nodes.empty() ? nullptr : nodes[0].get());
}

Connection* Client::Impl::ensure_connection(Node& n) {
  if (n.conn && n.conn->state() != Connection::State::closed) return n.conn.get();
  auto now = SteadyClock::now();
  if (n.attempted && now < n.next_attempt) return nullptr;
  if (n.attempted) reconnects++;
  n.attempted = true;
  n.conn = std::make_shared<Connection>(*this, n);
  n.conn->start();
  return n.conn && n.conn->state() != Connection::State::closed ? n.conn.get() : nullptr;
}

void Client::Impl::retry_later(const RequestPtr& r, Errc err, std::string msg) {
  if (r->done) return;
  auto now = SteadyClock::now();
  if (stopping) return complete(r, {Errc::shutdown, "client shut down", {}});
  if (now + opts.retry_delay >= r->deadline) return complete(r, {err, std::move(msg), {}});
  r->last_err = err;
  r->last_msg = std::move(msg);
  r->retry_at = now + opts.retry_delay;
  retry.push_back(r);
}

void Client::Impl::send_to(Node& n, const RequestPtr& r, bool asking) {
  Connection* c = ensure_connection(n);
  if (!c) {
    std::string why = "redis " + n.ep.str() + " unreachable: " + n.last_error;
    // One node and it is down: answer now rather than at the deadline; a cluster may re-route.
    if (!opts.cluster) return complete(r, {Errc::unavailable, std::move(why), {}});
    return retry_later(r, Errc::unavailable, std::move(why));
  }
  if (c->pending().size() >= opts.max_pipeline_depth)
    return complete(r, {Errc::overloaded, "redis pipeline to " + n.ep.str() + " is full", {}});
  c->send(r, asking);
}

void Client::Impl::dispatch(const RequestPtr& r) {
  if (r->done) return;
  if (stopping) return complete(r, {Errc::shutdown, "client shut down", {}});
  if (r->redirect) {
    Node& n = node_for(*r->redirect);
    bool asking = r->asking;
    r->redirect.reset();
    r->asking = false;
    return send_to(n, r, asking);
  }
  Node* n = nullptr;
  if (!opts.cluster || r->key.empty()) {
    n = opts.cluster ? any_node() : (nodes.empty() ? nullptr : nodes[0].get());
  } else {
    int idx = slots[key_slot(r->key)];
    if (idx >= 0) n = nodes[static_cast<size_t>(idx)].get();
  }
  if (!n) {
    request_refresh();
    return retry_later(r, Errc::unavailable, "no redis node serves this key yet");
  }
  send_to(*n, r, false);
}

void Client::Impl::on_reply(Node& n, Pending&& p, Reply&& reply) {
  if (!p.req || p.req->done) return;
  const RequestPtr& r = p.req;
  if (reply.is_error()) {
    if (auto red = parse_redirect(reply.str)) {
      redirects++;
      if (++r->redirects > opts.max_redirects)
        return complete(r, {Errc::server_error, "too many redirections: " + reply.str, std::move(reply)});
      Endpoint target{red->host.empty() ? n.ep.host : red->host, red->port};
      r->redirect = target;
      r->asking = red->ask;
      if (!red->ask) {
        // MOVED is permanent: route the slot there from now on and re-read the whole map soon.
        Node& t = node_for(target);
        slots[red->slot] = index_of(t);
        t.in_map = true;
        request_refresh();
      }
      return dispatch(r);
    }
    const std::string& e = reply.str;
    if (e.starts_with("TRYAGAIN") || e.starts_with("CLUSTERDOWN") || e.starts_with("LOADING") ||
        e.starts_with("MASTERDOWN")) {
      request_refresh();
      return retry_later(r, Errc::unavailable, e);
    }
    std::string msg = reply.str;
    return complete(r, {Errc::server_error, std::move(msg), std::move(reply)});
  }
  complete(r, {Errc::ok, {}, std::move(reply)});
}

void Client::Impl::on_connected(Node& n) {
  n.down = false;
  n.backoff = 0ms;
  n.last_error.clear();
  update_status();
}

void Client::Impl::on_closed(Node& n, const std::string& why) {
  n.conn.reset();
  n.down = true;
  n.last_error = why;
  n.backoff = std::min(opts.reconnect_backoff_max, std::max(opts.reconnect_backoff_min, n.backoff * 2));
  n.next_attempt = SteadyClock::now() + n.backoff;
  if (stopping) return;
  if (opts.cluster) request_refresh();
  update_status();
}

void Client::Impl::request_refresh() {
  auto earliest = last_refresh + kMinRefreshGap;
  if (next_refresh > earliest) next_refresh = earliest;
}

void Client::Impl::refresh() {
  if (refreshing || stopping || nodes.empty()) return;
  auto now = SteadyClock::now();
  // Ask a connected node if there is one, else the next one in turn whose backoff is over.
  Node* target = nullptr;
  for (size_t i = 0; i < nodes.size() && !target; ++i) {
    Node& n = *nodes[(refresh_cursor + i) % nodes.size()];
    if (n.conn && n.conn->state() == Connection::State::connected) target = &n;
  }
  for (size_t i = 0; i < nodes.size() && !target; ++i) {
    Node& n = *nodes[(refresh_cursor + i) % nodes.size()];
    if (!n.attempted || now >= n.next_attempt) target = &n;
  }
  refresh_cursor++;
  next_refresh = now + kDownRefresh;
  if (!target) return;
  refreshing = true;
  last_refresh = now;
  refreshes++;
  auto r = std::make_shared<Request>();
  r->encoded = encode_command({"CLUSTER", "SLOTS"});
  r->deadline = now + opts.connect_timeout + opts.retry_delay;
  Endpoint asked = target->ep;
  std::weak_ptr<Impl> weak = weak_from_this();
  r->cb = [weak, asked](Result&& res) {
    auto self = weak.lock();
    if (!self || self->stopping) return;
    self->refreshing = false;
    bool ok = res.ok() && self->apply_slots(res.reply, asked);
    if (!ok) log::debug("redis topology refresh failed", {{"node", asked.str()}, {"error", res.message}});
    bool any_down = false;
    for (auto& n : self->nodes) any_down |= n->in_map && n->down;
    auto period = ok && !any_down ? self->opts.topology_refresh : std::chrono::milliseconds(kDownRefresh);
    self->next_refresh = SteadyClock::now() + period;
    self->update_status();
  };
  Connection* c = ensure_connection(*target);
  if (!c) {
    refreshing = false;
    return;
  }
  c->send(r, false);
}

bool Client::Impl::apply_slots(const Reply& r, const Endpoint& asked) {
  if (r.type != Reply::Type::array || r.elements.empty()) return false;
  std::vector<int> fresh(kSlotCount, -1);
  std::vector<bool> master(nodes.size() + r.elements.size(), false);
  for (const auto& range : r.elements) {
    if (range.type != Reply::Type::array || range.elements.size() < 3) return false;
    int64_t lo = range.elements[0].as_int(-1), hi = range.elements[1].as_int(-1);
    const Reply& m = range.elements[2];
    if (lo < 0 || hi >= kSlotCount || lo > hi || m.type != Reply::Type::array || m.elements.size() < 2) return false;
    std::string host = m.elements[0].str;
    int64_t port = m.elements[1].as_int(0);
    if (port <= 0 || port > 65535) return false;
    if (host.empty() || host == "?") host = asked.host;
    int idx = index_of(node_for(Endpoint{host, static_cast<uint16_t>(port)}));
    if (master.size() <= static_cast<size_t>(idx)) master.resize(idx + 1, false);
    master[idx] = true;
    for (int64_t s = lo; s <= hi; ++s) fresh[s] = idx;
  }
  slots.swap(fresh);
  have_topology = true;
  // Computed here, not on every tick: MOVED only ever fills a slot.
  all_covered = std::find(slots.begin(), slots.end(), -1) == slots.end();
  for (size_t i = 0; i < nodes.size(); ++i) nodes[i]->in_map = i < master.size() && master[i];
  return true;
}

void Client::Impl::update_status() {
  bool up = true;
  std::string why;
  if (!have_topology) {
    up = false;
    why = opts.cluster ? "no redis cluster topology yet" : "no redis node configured";
  }
  if (up && opts.cluster && !all_covered) {
    up = false;
    why = "redis cluster slots not all covered";
  }
  for (auto& n : nodes) {
    if (!up || !n->in_map) continue;
    bool connected = n->conn && n->conn->state() == Connection::State::connected;
    if (n->down || (!connected && !n->attempted)) {
      up = false;
      why = "redis " + n->ep.str() + " unreachable" + (n->last_error.empty() ? "" : ": " + n->last_error);
    } else if (!connected) {
      up = false;
      why = "connecting to redis " + n->ep.str();
    }
  }
  std::lock_guard lk(status_mu);
  status_up = up;
  status_why = std::move(why);
}

void Client::Impl::on_tick() {
  if (stopping) return;
  auto now = SteadyClock::now();
  for (auto& n : nodes) {
    auto c = n->conn;
    if (!c) continue;
    if (c->state() == Connection::State::connecting && now > c->connect_deadline()) {
      c->fail(Errc::unavailable, "connect " + n->ep.str() + ": timed out");
      continue;
    }
    auto& pend = c->pending();
    for (auto& p : pend)
      if (p.req && !p.req->done && p.req->deadline <= now)
        complete(p.req, {Errc::timeout, "no reply from redis " + n->ep.str() + " before the deadline", {}});
    if (c->state() == Connection::State::connected && !pend.empty() && pend.front().sent + opts.stall_timeout < now)
      c->fail(Errc::connection_lost, "redis " + n->ep.str() + " stopped answering");
  }
  if (!retry.empty()) {
    std::vector<RequestPtr> due;
    std::vector<RequestPtr> keep;
    for (auto& r : retry) {
      if (r->done) continue;
      if (r->deadline <= now) complete(r, {r->last_err, r->last_msg, {}});
      else if (r->retry_at <= now) due.push_back(r);
      else keep.push_back(r);
    }
    retry.swap(keep);
    for (auto& r : due) dispatch(r);
  }
  // Masters without traffic are reconnected too, so health recovers by itself.
  for (auto& n : nodes)
    if (n->in_map && !n->conn) ensure_connection(*n);
  if (opts.cluster && now >= next_refresh) refresh();
  update_status();
  tick.expires_after(kTick);
  tick.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->on_tick();
  });
}

Client::Client(ClientOptions opts) : impl_(std::make_shared<Impl>(std::move(opts))) {
  impl_->start();
  thread_ = std::thread([impl = impl_] { impl->io.run(); });
}

Client::~Client() {
  asio::post(impl_->io, [impl = impl_] { impl->shutdown(); });
  if (thread_.joinable()) thread_.join();
}

void Client::execute(std::vector<std::string> args, std::string route_key, std::chrono::milliseconds timeout,
                     Callback cb) {
  auto r = std::make_shared<Request>();
  r->encoded = encode_command(args);
  r->key = std::move(route_key);
  r->deadline = SteadyClock::now() + timeout;
  r->cb = std::move(cb);
  asio::post(impl_->io, [impl = impl_, r] { impl->dispatch(r); });
}

Result Client::execute_sync(std::vector<std::string> args, std::string route_key, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result>>();
  auto fut = promise->get_future();
  execute(std::move(args), std::move(route_key), timeout, [promise](Result&& r) { promise->set_value(std::move(r)); });
  // The client answers every request by its deadline; the margin covers one tick.
  if (fut.wait_for(timeout + std::chrono::milliseconds(500)) != std::future_status::ready)
    return {Errc::timeout, "no answer from the redis client", {}};
  return fut.get();
}

bool Client::up(std::string& why) const {
  std::lock_guard lk(impl_->status_mu);
  if (!impl_->status_up) why = impl_->status_why;
  return impl_->status_up;
}

ClientStats Client::stats() const {
  return {impl_->reconnects.load(), impl_->redirects.load(), impl_->refreshes.load(), impl_->in_flight.load()};
}

bool Client::cluster() const { return impl_->opts.cluster; }

}  // namespace otaswarm::redis
