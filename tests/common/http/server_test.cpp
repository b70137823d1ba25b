// The Beast server against raw TCP clients: keep-alive, answers from another thread, and every
// named limit (header, body, malformed, slow client, connections per address, requests per
// connection) answered with a clear status or a counted close.
#include "common/http/server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

namespace otaswarm::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class ServerTest : public ::testing::Test {
 protected:
  void start(Limits limits, Handler handler = nullptr) {
    if (!handler) {
      handler = [](Request&& req, const ConnInfo&, Done done) {
        done(text_response(req, bhttp::status::ok, "hello " + std::string(req.target()) + "\n"));
      };
    }
    m_.connections_accepted = &reg_.counter("accepted", "a").get();
    m_.connections_rejected = &reg_.counter("rejected", "r").get();
    m_.bad_requests = &reg_.counter("bad", "b").get();
    m_.timeouts = &reg_.counter("timeouts", "t").get();
    server_ = std::make_shared<Server>(pool_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), limits,
                                       std::move(handler), m_);
    server_->start();
    pool_.start();
  }
  void TearDown() override {
    if (server_) server_->stop();
    pool_.stop_now();
  }

  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect(server_->local_endpoint());
    return s;
  }
  static void send(tcp::socket& s, const std::string& bytes) { asio::write(s, asio::buffer(bytes)); }
  // Everything until the server closes (or `until` appears, for keep-alive reads).
  static std::string read(tcp::socket& s, const std::string& until = "") {
    std::string out;
    char buf[4096];
    for (;;) {
      boost::system::error_code ec;
      size_t n = s.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) return out;
      if (!until.empty() && out.find(until) != std::string::npos) return out;
    }
  }

  IoPool pool_{2};
  asio::io_context client_io_;
  metrics::Registry reg_;
  ServerMetrics m_;
  std::shared_ptr<Server> server_;
};

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start({});
  auto s = connect();
  send(s, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read(s, "hello /a\n").find("HTTP/1.1 200"), std::string::npos);
  send(s, "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto second = read(s);
  EXPECT_NE(second.find("hello /b\n"), std::string::npos) << second;
  EXPECT_EQ(m_.connections_accepted->value(), 1u);
}

TEST_F(ServerTest, HandlerMayAnswerFromAnotherThread) {
  std::vector<std::thread> workers;
  std::mutex mu;
  start({}, [&](Request&& req, const ConnInfo& info, Done done) {
    std::lock_guard lk(mu);
    workers.emplace_back([req = std::move(req), info, done = std::move(done)]() mutable {
      done(text_response(req, bhttp::status::accepted, "from " + info.remote.address().to_string() + "\n"));
    });
  });
  auto s = connect();
  send(s, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  auto r = read(s);
  EXPECT_NE(r.find("HTTP/1.1 202"), std::string::npos) << r;
  EXPECT_NE(r.find("from 127.0.0.1"), std::string::npos) << r;
  std::lock_guard lk(mu);
  for (auto& t : workers) t.join();
}

TEST_F(ServerTest, OversizedHeaderAndBodyGet413AndAreCounted) {
  start({.header_limit = 512, .body_limit = 16});
  auto a = connect();
  send(a, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1000, 'a') + "\r\n\r\n");
  auto ra = read(a);
  EXPECT_NE(ra.find("HTTP/1.1 413"), std::string::npos) << ra;
  EXPECT_NE(ra.find("request header too large"), std::string::npos) << ra;
  auto b = connect();
  send(b, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + std::string(17, 'b'));
  auto rb = read(b);
  EXPECT_NE(rb.find("HTTP/1.1 413"), std::string::npos) << rb;
  EXPECT_NE(rb.find("request body too large"), std::string::npos) << rb;
  EXPECT_EQ(m_.bad_requests->value(), 2u);  // counted before the 413 is written
}

TEST_F(ServerTest, MalformedRequestGets400) {
  start({});
  auto s = connect();
  send(s, "NOT HTTP AT ALL\r\n\r\n");
  auto r = read(s);
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
  EXPECT_NE(r.find("malformed request"), std::string::npos) << r;
}

TEST_F(ServerTest, SlowClientIsCutOffAndCounted) {
  start({.read_timeout = std::chrono::milliseconds(100)});
  auto s = connect();
  send(s, "GET / HTTP/1.1\r\nHo");  // never finishes: slowloris
  auto r = read(s);                 // returns once the server closes
  EXPECT_EQ(r, "");
  // The timer closes the socket before the read handler counts the timeout.
  for (int i = 0; i < 500 && m_.timeouts->value() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(m_.timeouts->value(), 1u);
}

TEST_F(ServerTest, ConnectionsPerAddressAreLimited) {
  start({.max_connections_per_address = 1});
  auto first = connect();
  send(first, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(read(first, "hello /1\n").find("200"), std::string::npos);  // admitted and open
  auto second = connect();
  EXPECT_EQ(read(second), "");  // closed without an answer
  EXPECT_EQ(m_.connections_rejected->value(), 1u);  // counted before the close
  first.close();
}

TEST_F(ServerTest, RequestsPerConnectionAreLimited) {
  start({.max_requests_per_connection = 2});
  auto s = connect();
  send(s, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = read(s);
  EXPECT_NE(r.find("hello /2\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("hello /3\n"), std::string::npos) << r;  // closed after the second answer
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
}

}  // namespace
}  // namespace otaswarm::http
