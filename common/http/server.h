#pragma once
// Beast HTTP/1.1 server: sockets only move bytes; a Handler turns a request into a
// response (possibly asynchronously). Named limits guard against slow and oversized clients.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/io_pool.h"
#include "common/metrics.h"

namespace otaswarm::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

struct Limits {
  size_t header_limit = 8 * 1024;                       // request line + headers
  size_t body_limit = 1024 * 1024;                      // request body
  std::chrono::milliseconds read_timeout{10'000};       // whole request must arrive within this
  std::chrono::milliseconds idle_timeout{30'000};       // keep-alive idle
  std::chrono::milliseconds write_timeout{10'000};
  size_t max_requests_per_connection = 10'000;
  size_t max_connections = 20'000;
  size_t max_connections_per_address = 2'000;           // generous: carrier-grade NAT
};

struct ConnInfo {
  boost::asio::ip::tcp::endpoint remote;
  boost::asio::ip::tcp::endpoint local;
};

using Done = std::function<void(Response&&)>;
// Called on the connection's I/O thread; `done` may be called from any thread, exactly once.
using Handler = std::function<void(Request&& req, const ConnInfo& info, Done done)>;

// Common response helpers.
Response make_response(const Request& req, bhttp::status status, std::string body, std::string content_type);
Response text_response(const Request& req, bhttp::status status, std::string body);
Response json_response(const Request& req, bhttp::status status, std::string body);

struct ServerMetrics {
  metrics::Counter* connections_accepted = nullptr;
  metrics::Counter* connections_rejected = nullptr;
  metrics::Counter* bad_requests = nullptr;   // parse errors / oversized
  metrics::Counter* timeouts = nullptr;
  metrics::Gauge* open_connections = nullptr;
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  // With `tls`, every connection is TLS (Beast ssl_stream over OpenSSL).
  Server(IoPool& pool, boost::asio::ip::tcp::endpoint bind, Limits limits, Handler handler,
         ServerMetrics m = {}, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  // Binds and listens; throws boost::system::system_error on failure.
  void start();
  void stop();  // stop accepting; open connections finish their current request and close
  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }

  // Used by sessions.
  bool stopping() const { return stopping_.load(); }
  bool admit(const boost::asio::ip::address& a);
  void release(const boost::asio::ip::address& a);
  const Limits& limits() const { return limits_; }
  const Handler& handler() const { return handler_; }
  ServerMetrics& metrics() { return m_; }
  bool tls() const { return tls_ != nullptr; }

 private:
  void do_accept();

  IoPool& pool_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint bind_, local_;
  Limits limits_;
  Handler handler_;
  ServerMetrics m_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::atomic<bool> stopping_{false};
  std::mutex conn_mu_;
  size_t total_ = 0;
  std::unordered_map<std::string, size_t> per_addr_;
};

// Server-side TLS context from PEM files (TLS 1.2+); throws std::runtime_error naming the file.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file, const std::string& key_file);

}  // namespace otaswarm::http
