#include "common/http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <stdexcept>
#include <optional>
#include <type_traits>

#include "common/log.h"

namespace otaswarm::http {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Response make_response(const Request& req, bhttp::status status, std::string body, std::string content_type) {
  Response res{status, req.version()};
  res.set(bhttp::field::server, "otaswarm");
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response text_response(const Request& req, bhttp::status status, std::string body) {
  return make_response(req, status, std::move(body), "text/plain; charset=utf-8");
}

Response json_response(const Request& req, bhttp::status status, std::string body) {
  return make_response(req, status, std::move(body), "application/json");
}

namespace {

// One session per connection; every handler runs on the connection's strand, so the
// session needs no lock. Stream is beast::tcp_stream or ssl_stream<tcp_stream>.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... Args>
  Session(std::shared_ptr<Server> server, Args&&... args)
      : stream_(std::forward<Args>(args)...), server_(std::move(server)) {
    boost::system::error_code ec;
    info_.remote = socket().remote_endpoint(ec);
    info_.local = socket().local_endpoint(ec);
  }

  ~Session() {
    server_->release(info_.remote.address());
    if (auto* g = server_->metrics().open_connections) g->add(-1);
  }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->start(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void start() {
    if constexpr (kTls) {
      lowest().expires_after(server_->limits().read_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  if (auto* c = self->server_->metrics().bad_requests) c->inc();
                                  return;
                                }
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->limits().header_limit));
    parser_->body_limit(server_->limits().body_limit);
    // First request: the whole request must arrive within read_timeout (slowloris).
    // Later: the idle keep-alive timeout applies until the next request completes.
    lowest().expires_after(requests_ == 0 ? server_->limits().read_timeout : server_->limits().idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset || ec == asio::error::eof) {
      return do_close();
    }
    if (ec == beast::error::timeout) {
      if (auto* c = server_->metrics().timeouts) c->inc();
      return;  // stream already closed by the timer
    }
    if (ec) {
      if (auto* c = server_->metrics().bad_requests) c->inc();
      // Best effort: tell the client what was wrong, then close.
      auto status = (ec == bhttp::error::header_limit || ec == bhttp::error::body_limit)
                        ? bhttp::status::payload_too_large
                        : bhttp::status::bad_request;
      Request dummy;
      dummy.version(11);
      auto res = text_response(dummy, status, std::string(ec == bhttp::error::header_limit ? "request header too large"
                                                           : ec == bhttp::error::body_limit ? "request body too large"
                                                                                            : "malformed request") +
                                                  "\n");
      res.keep_alive(false);
      return send(std::move(res));
    }
    ++requests_;
    Request req = parser_->release();
    auto self = this->shared_from_this();
    auto exec = stream_.get_executor();
    Done done = [self, exec](Response&& res) {
      auto shared = std::make_shared<Response>(std::move(res));
      asio::dispatch(exec, [self, shared]() mutable { self->send(std::move(*shared)); });
    };
    lowest().expires_never();  // the handler's own deadline applies while it works
    server_->handler()(std::move(req), info_, std::move(done));
  }

  void send(Response&& res) {
    if (server_->stopping() || requests_ >= server_->limits().max_requests_per_connection) res.keep_alive(false);
    res_ = std::make_shared<Response>(std::move(res));
    lowest().expires_after(server_->limits().write_timeout);
    bool keep = res_->keep_alive();
    bhttp::async_write(stream_, *res_, [self = this->shared_from_this(), keep](beast::error_code ec, std::size_t) {
      self->on_write(keep, ec);
    });
  }

  void on_write(bool keep_alive, beast::error_code ec) {
    res_.reset();
    if (ec) return;
    if (!keep_alive) return do_close();
    do_read();
  }

  void do_close() {
    if constexpr (kTls) {
      lowest().expires_after(server_->limits().write_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Response> res_;
  std::shared_ptr<Server> server_;
  ConnInfo info_;
  size_t requests_ = 0;
};

}  // namespace

Server::Server(IoPool& pool, tcp::endpoint bind, Limits limits, Handler handler, ServerMetrics m,
               std::shared_ptr<asio::ssl::context> tls)
    : pool_(pool), acceptor_(asio::make_strand(pool.at(0))), bind_(bind), limits_(limits),
      handler_(std::move(handler)), m_(m), tls_(std::move(tls)) {}

std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& cert_file, const std::string& key_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                   asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) throw std::runtime_error("cannot load certificate chain \"" + cert_file + "\": " + ec.message());
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot load private key \"" + key_file + "\": " + ec.message());
  return ctx;
}

void Server::start() {
  acceptor_.open(bind_.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  if (bind_.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(true));
  acceptor_.bind(bind_);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor_.local_endpoint();
  do_accept();
}

void Server::stop() {
  stopping_ = true;
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
}

bool Server::admit(const asio::ip::address& a) {
  std::lock_guard lk(conn_mu_);
  auto key = a.to_string();
  if (total_ >= limits_.max_connections || per_addr_[key] >= limits_.max_connections_per_address) {
    if (per_addr_[key] == 0) per_addr_.erase(key);
    return false;
  }
  ++total_;
  ++per_addr_[key];
  return true;
}

void Server::release(const asio::ip::address& a) {
  std::lock_guard lk(conn_mu_);
  auto it = per_addr_.find(a.to_string());
  if (it == per_addr_.end()) return;
  --total_;
  if (--it->second == 0) per_addr_.erase(it);
}

void Server::do_accept() {
  acceptor_.async_accept(asio::make_strand(pool_.next()), [self = shared_from_this()](beast::error_code ec,
                                                                                      tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      boost::system::error_code rec;
      auto remote = socket.remote_endpoint(rec);
      if (!rec && self->admit(remote.address())) {
        if (auto* c = self->m_.connections_accepted) c->inc();
        if (auto* g = self->m_.open_connections) g->add(1);
        if (self->tls_)
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(self, std::move(socket), *self->tls_)->run();
        else
          std::make_shared<Session<beast::tcp_stream>>(self, std::move(socket))->run();
      } else {
        if (auto* c = self->m_.connections_rejected) c->inc();
        socket.close(rec);
      }
    } else if (ec == asio::error::no_descriptors) {
      log::warn("accept failed: out of file descriptors");
    }
    self->do_accept();
  });
}

}  // namespace otaswarm::http
