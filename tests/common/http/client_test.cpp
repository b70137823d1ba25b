// The HTTP client against the real Beast server of common/http on 127.0.0.1 port 0.
#include "common/http/client.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <mutex>
#include <vector>

#include "common/http/server.h"
#include "common/io_pool.h"

namespace otaswarm::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Method = bhttp::verb;

constexpr size_t kSmallLimit = 1000;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_shared<Server>(pool_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), Limits{},
                                       [this](Request&& req, const ConnInfo&, Done done) { handle(req, done); });
    server_->start();
    pool_.start();
  }

  void TearDown() override {
    {
      // Answer the requests held back for the timeout test so their sessions can finish.
      std::lock_guard lock(mu_);
      for (auto& [req, done] : held_) done(text_response(req, bhttp::status::ok, "late"));
      held_.clear();
    }
    server_->stop();
    pool_.drain_and_join();
  }

  void handle(const Request& req, const Done& done) {
    if (req.target() == "/hello") {
      auto res = text_response(req, bhttp::status::ok, "hello");
      res.set("X-Test", "yes");
      done(std::move(res));
    } else if (req.target() == "/echo") {
      std::string seen = std::string(req.method_string()) + " " + std::string(req[bhttp::field::authorization]) +
                         " " + std::string(req[bhttp::field::host]) + " " + req.body();
      done(text_response(req, bhttp::status::ok, seen));
    } else if (req.target() == "/big") {
      done(text_response(req, bhttp::status::ok, std::string(kSmallLimit + 1, 'x')));
    } else if (req.target() == "/hold") {
      std::lock_guard lock(mu_);
      held_.emplace_back(req, done);
    } else {
      done(text_response(req, bhttp::status::not_found, "no such thing"));
    }
  }

  Url url(const std::string& target) const {
    return Url{"http", "127.0.0.1", server_->local_endpoint().port(), target};
  }

  IoPool pool_{1};
  std::shared_ptr<Server> server_;
  std::mutex mu_;
  std::vector<std::pair<Request, Done>> held_;
};

ClientError::Kind failure_kind(const Url& u, const ClientOptions& options = {}) {
  try {
    request(Method::get, u, {}, {}, options);
  } catch (const ClientError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no ClientError";
  return ClientError::Kind::protocol;
}

TEST_F(ClientTest, ReturnsStatusHeadersAndBody) {
  auto r = request(Method::get, url("/hello"));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.reason, "OK");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.header("x-test"), "yes");
  EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_FALSE(r.header("X-Absent"));
}

TEST_F(ClientTest, SendsMethodHeadersHostAndBody) {
  auto r = request(Method::post, url("/echo"), {{"Authorization", "Bearer t"}}, "payload");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "POST Bearer t 127.0.0.1:" + std::to_string(server_->local_endpoint().port()) + " payload");
}

TEST_F(ClientTest, ReturnsClientErrorsAsReplies) {
  auto r = request(Method::get, url("/missing"));
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.reason, "Not Found");
  EXPECT_EQ(r.body, "no such thing");
}

TEST_F(ClientTest, RefusesABodyOverTheLimit) {
  ClientOptions small;
  small.body_limit = kSmallLimit;
  EXPECT_EQ(failure_kind(url("/big"), small), ClientError::Kind::body_too_large);
  small.body_limit = kSmallLimit + 1;
  EXPECT_EQ(request(Method::get, url("/big"), {}, {}, small).body.size(), kSmallLimit + 1);
}

TEST_F(ClientTest, TimesOutWhenNoReplyComes) {
  ClientOptions quick;
  quick.timeout = std::chrono::milliseconds(100);
  try {
    request(Method::get, url("/hold"), {}, {}, quick);
    FAIL() << "no ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.kind(), ClientError::Kind::timeout);
    EXPECT_STREQ(e.what(), "no reply within 100 ms");
  }
}

TEST(Client, ReportsConnectionRefused) {
  // A port that was just free and has no listener.
  asio::io_context ioc;
  tcp::acceptor probe(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = probe.local_endpoint().port();
  probe.close();
  EXPECT_EQ(failure_kind(Url{"http", "127.0.0.1", port, "/"}), ClientError::Kind::connect);
}

}  // namespace
}  // namespace otaswarm::http
