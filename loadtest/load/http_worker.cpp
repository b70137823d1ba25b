#include "loadtest/load/http_worker.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "loadtest/load/http_announce.h"

namespace otaswarm::loadtest {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;

namespace {
inline constexpr uint32_t kMaxReplyBody = 1 << 20;  // a numwant-bounded reply is a few KB
}

// One keep-alive connection. Handlers hold a shared_ptr, so a connection the worker forgets
// stays alive until its last handler has run.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(HttpWorker& w, uint32_t slot) : w_(w), slot_(slot), stream_(w.io_) {}

  bool busy() const { return busy_; }
  bool dead() const { return dead_; }
  uint32_t slot() const { return slot_; }

  void start(Phase phase, const Announce& a, int64_t now) {
    busy_ = true;
    phase_ = phase;
    started_ns_ = now;
    retried_ = false;
    req_ = {};
    req_.method(http::verb::get);
    req_.target(http_announce_target(a, w_.config_.numwant));
    req_.version(11);
    req_.set(http::field::host, w_.config_.target.host_header);
    req_.set(http::field::user_agent, "otaswarm-loadtest");
    if (connected_) write();
    else connect();
  }

  void close() {
    dead_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void connect() {
    const auto& server = w_.config_.target.server;
    tcp::endpoint ep(server.address, server.port);
    beast::error_code ec;
    stream_.socket().open(ep.protocol(), ec);
    if (auto src = w_.config_.population->source_address(slot_); src && !ec)
      stream_.socket().bind(tcp::endpoint(*src, 0), ec);
    if (!ec) stream_.socket().set_option(tcp::no_delay(true), ec);
    if (ec) return finish(ErrorKind::connect_failed, false);
    ++w_.stats_.connects_sent;
    stream_.expires_after(std::chrono::nanoseconds(deadline_left()));
    stream_.async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec == beast::error::timeout) return self->finish(ErrorKind::io, true);
      if (ec) {
        ++self->w_.stats_.connect_failures;
        return self->finish(ErrorKind::connect_failed, false);
      }
      ++self->w_.stats_.connects_answered;
      self->connected_ = true;
      self->write();
    });
  }

  void write() {
    sent_ns_ = started_ns_;
    parser_.reset();
    stream_.expires_after(std::chrono::nanoseconds(deadline_left()));
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_io_error(ec);
      self->read();
    });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(kMaxReplyBody);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_io_error(ec);
      self->on_response();
    });
  }

  void on_io_error(beast::error_code ec) {
    if (ec == beast::error::timeout) return finish(ErrorKind::io, true);
    // The server closed an idle keep-alive connection under us: reconnect once and resend.
    bool closed_idle = ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
                       ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe;
    if (closed_idle && served_ > 0 && !retried_ && (!parser_ || !parser_->got_some())) {
      retried_ = true;
      ++w_.stats_.retries;
      reset_stream();
      return connect();
    }
    finish(ErrorKind::io, false);
  }

  void on_response() {
    ++served_;
    auto& res = parser_->get();
    bool keep = res.keep_alive();
    int64_t now = w_.now_ns();
    if (res.result() != http::status::ok) {
      done(keep);
      w_.record_error(phase_, ErrorKind::http_status, now);
    } else {
      HttpReply r = classify_http_reply(res.body());
      done(keep);
      if (r.kind == HttpReplyKind::ok) {
        w_.stats_.peers_received += r.peers;
        w_.record_answer(phase_, sent_ns_, now);
      } else {
        if (r.kind == HttpReplyKind::tracker_failure) w_.stats_.note_failure(r.failure_reason);
        w_.record_error(phase_, r.kind == HttpReplyKind::tracker_failure ? ErrorKind::tracker_failure
                                                                         : ErrorKind::bad_reply, now);
      }
    }
    w_.on_done(*this);
  }

  // Ends a request that got no usable response; the connection is dropped.
  void finish(ErrorKind kind, bool timed_out) {
    int64_t now = w_.now_ns();
    done(false);
    if (timed_out) w_.record_timeout(phase_, now);
    else w_.record_error(phase_, kind, now);
    w_.on_done(*this);
  }

  void done(bool keep_alive) {
    busy_ = false;
    if (!keep_alive) close();
  }

  void reset_stream() {
    beast::error_code ec;
    stream_.socket().close(ec);
    buffer_.clear();
    connected_ = false;
  }

  int64_t deadline_left() const {
    int64_t left = started_ns_ + w_.config_.timeout_ns - w_.now_ns();
    return left > 0 ? left : 1;
  }

  HttpWorker& w_;
  uint32_t slot_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Phase phase_ = Phase::steady;
  int64_t started_ns_ = 0, sent_ns_ = 0;
  uint64_t served_ = 0;
  bool busy_ = false, dead_ = false, connected_ = false, retried_ = false;
};

HttpWorker::HttpWorker(WorkerConfig config) : Worker(std::move(config)) {
  by_slot_.resize(config_.population->slots());
}

HttpWorker::~HttpWorker() = default;

void HttpWorker::issue(uint32_t phone, Phase phase, int64_t now) {
  auto& pool = by_slot_[config_.population->slot_of(phone)];
  std::shared_ptr<HttpConnection> conn;
  for (auto& c : pool)
    if (!c->busy() && !c->dead()) {
      conn = c;
      break;
    }
  if (!conn) {
    if (open_ >= config_.max_inflight) {
      record_not_sent(phase, NotSentKind::no_connection);
      return;
    }
    conn = std::make_shared<HttpConnection>(*this, config_.population->slot_of(phone));
    pool.push_back(conn);
    ++open_;
  }
  Announce a = config_.population->next(phone);
  record_sent(phase, a.event);
  ++busy_;
  conn->start(phase, a, now);
}

void HttpWorker::on_done(HttpConnection& c) {
  --busy_;
  if (c.dead()) forget(c);
  update_inflight();
}

void HttpWorker::forget(HttpConnection& c) {
  auto& pool = by_slot_[c.slot()];
  for (auto it = pool.begin(); it != pool.end(); ++it)
    if (it->get() == &c) {
      pool.erase(it);
      --open_;
      return;
    }
}

void HttpWorker::shutdown() {
  for (auto& pool : by_slot_)
    for (auto& c : pool) c->close();
  by_slot_.clear();
  open_ = 0;
}

}  // namespace otaswarm::loadtest
