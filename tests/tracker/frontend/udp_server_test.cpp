#include "tracker/frontend/udp_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/io_pool.h"
#include "tracker/store/memory_store.h"
#include "common/metrics.h"
#include "common/proto/token.h"
#include "common/proto/bep15.h"
#include "tests/support/bep15_requests.h"

namespace otaswarm {
namespace {

constexpr uint64_t kSeed = 99;
const std::string kKey = "udp-server-test-key-0123456789ab";

uint32_t be32(const std::string& s, size_t off) {
  auto* p = reinterpret_cast<const uint8_t*>(s.data() + off);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint64_t be64(const std::string& s, size_t off) { return (uint64_t{be32(s, off)} << 32) | be32(s, off + 4); }

class UdpServerTest : public ::testing::Test {
 protected:
  UdpServerTest() {
    Release r;
    r.info_hash.fill(0x42);
    r.name = "ota";
    std::string err;
    registry_.add(r, err);
    TrackerContext ctx;
    ctx.token_keys = token::KeyRing(kKey);
    ctx.clock = &clock_;
    ctx.registry = &registry_;
    ctx.store = &store_;
    ctx.metrics = &metrics_;
    handler_ = std::make_unique<AnnounceHandler>(ctx);
    server_ = std::make_unique<UdpServer>(pool_, from_, *handler_, ids_, metrics_);
  }

  // The reply, or nullopt when the datagram was dropped.
  std::optional<std::string> process(std::string_view datagram) {
    std::optional<std::string> out;
    server_->process(datagram, from_, [&](std::string&& r) {
      EXPECT_FALSE(out) << "replied twice";
      out = std::move(r);
    });
    return out;
  }

  uint64_t connect() {
    auto r = process(udp::build_connect_request(1));
    EXPECT_TRUE(r && r->size() == 16);
    return r ? be64(*r, 8) : 0;
  }

  udp::AnnounceRequest announce_request(uint64_t cid) {
    udp::AnnounceRequest a;
    a.connection_id = cid;
    a.transaction_id = 0x77;
    a.info_hash.fill(0x42);
    a.peer_id.fill(1);
    a.left = 10;
    a.event = 2;
    a.port = 6881;
    a.url_data = "/announce/" + token::mint(kKey, "phone-1", clock_.unix_seconds() + 3600);
    return a;
  }

  uint64_t dropped(const char* reason) { return metrics_.udp_dropped.with({reason}).value(); }

  boost::asio::ip::udp::endpoint from_{*net::parse_address("198.51.100.7"), 40000};
  ManualClock clock_;
  store::MemoryStore store_{{.seed = kSeed}, clock_};
  ReleaseRegistry registry_{nullptr};
  metrics::Registry mreg_;
  TrackerMetrics metrics_{mreg_};
  ConnectionIds ids_{"udp-id-key", "", clock_};
  IoPool pool_{1};
  std::unique_ptr<AnnounceHandler> handler_;
  std::unique_ptr<UdpServer> server_;
};

TEST_F(UdpServerTest, GarbageIsDroppedAndCounted) {
  EXPECT_FALSE(process(""));
  EXPECT_FALSE(process("hello"));
  EXPECT_FALSE(process(std::string(15, '\xff')));
  EXPECT_EQ(dropped("truncated"), 3u);

  std::string bad_magic = udp::build_connect_request(1);
  bad_magic[0] = 'x';
  EXPECT_FALSE(process(bad_magic));
  EXPECT_EQ(dropped("garbage"), 1u);

  std::string unknown = udp::build_connect_request(1);
  unknown[11] = 9;
  EXPECT_FALSE(process(unknown));
  EXPECT_EQ(dropped("unknown_action"), 1u);
  EXPECT_EQ(metrics_.udp_connects.value(), 0u);
}

TEST_F(UdpServerTest, ConnectThenAnnounce) {
  uint64_t cid = connect();
  EXPECT_EQ(metrics_.udp_connects.value(), 1u);
  auto r = process(udp::build_announce_request(announce_request(cid)));
  ASSERT_TRUE(r);
  ASSERT_GE(r->size(), 20u);
  EXPECT_EQ(be32(*r, 0), 1u) << r->substr(8);
  EXPECT_EQ(be32(*r, 4), 0x77u);
  EXPECT_EQ(be32(*r, 12), 1u);  // leechers
  EXPECT_EQ(be32(*r, 16), 0u);  // seeders
  EXPECT_EQ(store_.peer_count(registry_.list()[0].info_hash), 1u);
}

TEST_F(UdpServerTest, WrongConnectionIdGetsAnError) {
  connect();
  auto r = process(udp::build_announce_request(announce_request(12345)));
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);
  EXPECT_EQ(be32(*r, 4), 0x77u);
  EXPECT_EQ(metrics_.rejects.with({"bad_connection_id"}).value(), 1u);
}

TEST_F(UdpServerTest, ExpiredConnectionIdGetsAnError) {
  uint64_t cid = connect();
  clock_.advance_seconds(3 * ConnectionIds::kSlotSeconds);
  auto r = process(udp::build_announce_request(announce_request(cid)));
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);
}

TEST_F(UdpServerTest, AnnounceErrorsAreReplies) {
  uint64_t cid = connect();
  auto a = announce_request(cid);
  a.url_data = "/announce/not-a-token";
  auto r = process(udp::build_announce_request(a));
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);

  a = announce_request(cid);
  a.event = 9;
  r = process(udp::build_announce_request(a));
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);

  a = announce_request(cid);
  a.port = 0;
  r = process(udp::build_announce_request(a));
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);

  a = announce_request(cid);
  a.url_data = "/scrape/x";
  r = process(udp::build_announce_request(a));
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);

  std::string truncated = udp::build_announce_request(announce_request(cid)).substr(0, 50);
  r = process(truncated);
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 3u);
}

TEST_F(UdpServerTest, ScrapeAnswersInRequestOrder) {
  uint64_t cid = connect();
  process(udp::build_announce_request(announce_request(cid)));
  udp::Hash20 known, unknown;
  known.fill(0x42);
  unknown.fill(0x01);
  auto r = process(udp::build_scrape_request(cid, 5, {unknown, known}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 8u + 24u);
  EXPECT_EQ(be32(*r, 0), 2u);
  EXPECT_EQ(be32(*r, 8 + 8), 0u);        // unknown: leechers 0
  EXPECT_EQ(be32(*r, 8 + 12 + 8), 1u);   // known: one leecher
}

TEST_F(UdpServerTest, BusyReplyAnswersAnnouncesWithoutStoreWork) {
  uint64_t cid = connect();
  std::string out;
  ASSERT_TRUE(server_->busy_reply(udp::build_announce_request(announce_request(cid)), from_, out));
  ASSERT_GE(out.size(), 8u);
  EXPECT_EQ(be32(out, 0), 3u);  // error action: the client backs off
  EXPECT_EQ(be32(out, 4), 0x77u);
  EXPECT_EQ(out.substr(8), "tracker busy: retry in 60 s");
  EXPECT_EQ(store_.peer_count(registry_.list()[0].info_hash), 0u);
  EXPECT_EQ(metrics_.shed.with({"queue_delay"}).value(), 1u);
  EXPECT_EQ(metrics_.rejects.with({"overloaded"}).value(), 1u);
  // Connects, scrapes and announces with a bad connection id keep their normal path.
  EXPECT_FALSE(server_->busy_reply(udp::build_connect_request(1), from_, out));
  EXPECT_FALSE(server_->busy_reply(udp::build_scrape_request(cid, 5, {}), from_, out));
  EXPECT_FALSE(server_->busy_reply(udp::build_announce_request(announce_request(12345)), from_, out));
  EXPECT_EQ(metrics_.shed.with({"queue_delay"}).value(), 1u);
}

// A blocking UDP client with a receive timeout, one per test thread.
class Client {
 public:
  explicit Client(uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    to_.sin_family = AF_INET;
    to_.sin_port = htons(port);
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  ~Client() { ::close(fd_); }
  std::string call(const std::string& req) {
    ::sendto(fd_, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_);
    char buf[2048];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

TEST(UdpServerThreads, SeveralIoThreadsShareStoreAdmissionAndMetrics) {
  // The real socket path with two I/O threads (SO_REUSEPORT spreads the clients over them):
  // the store, admission buckets, connection ids and metrics are shared; ThreadSanitizer runs this.
  Release rel;
  rel.info_hash.fill(0x42);
  rel.name = "ota";
  std::string err;
  ReleaseRegistry registry(nullptr);
  registry.add(rel, err);
  const Clock& clock = SystemClock::instance();
  store::MemoryStore store({.seed = kSeed}, clock);
  metrics::Registry mreg;
  TrackerMetrics metrics(mreg);
  AdmissionController admission(AdmissionConfig{}, clock);
  ConnectionIds ids("udp-id-key", "", clock);
  TrackerContext ctx;
  ctx.token_keys = token::KeyRing(kKey);
  ctx.clock = &clock;
  ctx.registry = &registry;
  ctx.store = &store;
  ctx.metrics = &metrics;
  ctx.admission = &admission;
  AnnounceHandler handler(ctx);
  IoPool pool(2);
  UdpServer server(pool, {*net::parse_address("127.0.0.1"), 0}, handler, ids, metrics);
  server.set_shedding({.queue_delay_ms = 50});
  server.start();
  pool.start();

  constexpr int kClients = 4, kAnnounces = 50;
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      Client cl(server.local_endpoint().port());
      std::string conn = cl.call(udp::build_connect_request(static_cast<uint32_t>(c)));
      if (conn.size() != 16) return;
      for (int i = 0; i < kAnnounces; ++i) {
        udp::AnnounceRequest a;
        a.connection_id = be64(conn, 8);
        a.transaction_id = static_cast<uint32_t>(i);
        a.info_hash.fill(0x42);
        a.peer_id.fill(static_cast<uint8_t>(c * kAnnounces + i));
        a.left = 10;
        a.event = 2;
        a.port = static_cast<uint16_t>(10000 + c * kAnnounces + i);
        std::string dev = "phone-" + std::to_string(c) + "-" + std::to_string(i);
        a.url_data = "/announce/" + token::mint(kKey, dev, clock.unix_seconds() + 3600);
        std::string r = cl.call(udp::build_announce_request(a));
        if (r.size() >= 20 && be32(r, 0) == 1) answered.fetch_add(1);
      }
    });
  // Scrapes while the I/O threads count: the merge at scrape time must not race the increments.
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      EXPECT_FALSE(mreg.expose().empty());
      admission.tick();
    }
  });
  for (auto& t : clients) t.join();
  done = true;
  scraper.join();
  server.stop();
  pool.drain_and_join();
  EXPECT_EQ(answered.load(), kClients * kAnnounces);
  EXPECT_EQ(store.peer_count(rel.info_hash), static_cast<size_t>(kClients * kAnnounces));
  EXPECT_EQ(metrics.udp_connects.value(), static_cast<uint64_t>(kClients));
  EXPECT_NE(mreg.expose().find("otaswarm_tracker_announces_total"), std::string::npos);
}

// The socket path: datagrams queued before the I/O thread runs arrive as one long burst, so
// the worker drains them in several recvmmsg batches and several wake-ups.
class UdpServerSocketTest : public UdpServerTest {
 protected:
  using udp_t = boost::asio::ip::udp;

  void start_server(const char* address) {
    live_ = std::make_unique<UdpServer>(pool_, udp_t::endpoint(*net::parse_address(address), 0), *handler_, ids_,
                                        metrics_);
    live_->start();
    client_.open(live_->local_endpoint().protocol());
    client_.set_option(boost::asio::socket_base::receive_buffer_size(4 << 20));
    client_.bind(udp_t::endpoint(live_->local_endpoint().address(), 0));
  }

  void TearDown() override {
    if (live_) live_->stop();
    pool_.drain_and_join();
  }

  void send(const std::string& d) { client_.send_to(boost::asio::buffer(d), live_->local_endpoint()); }

  // Replies by transaction id, until `want` arrived or a few seconds passed.
  std::map<uint32_t, std::string> receive(size_t want) {
    std::map<uint32_t, std::string> got;
    client_.non_blocking(true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::array<char, kUdpMaxDatagram> buf;
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      size_t n = client_.receive(boost::asio::buffer(buf), 0, ec);
      if (ec == boost::asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      EXPECT_FALSE(ec) << ec.message();
      std::string r(buf.data(), n);
      EXPECT_GE(r.size(), 8u);
      EXPECT_TRUE(got.emplace(be32(r, 4), r).second) << "two replies for one transaction";
    }
    return got;
  }

  void wait_dropped(const char* reason, uint64_t want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (dropped(reason) < want && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(dropped(reason), want) << reason;
  }

  std::unique_ptr<UdpServer> live_;
  boost::asio::io_context client_ctx_;
  udp_t::socket client_{client_ctx_};
};

TEST_F(UdpServerSocketTest, BurstOfMixedDatagramsIsAnsweredAndCounted) {
  start_server("127.0.0.1");
  // More than one wake-up's worth of batches, valid and garbage interleaved within each batch.
  const size_t total = kUdpBatch * kUdpBatchesPerWake + kUdpBatch + 7;
  size_t valid = 0, truncated = 0, garbage = 0;
  for (uint32_t i = 0; i < total; ++i) {
    if (i % 5 == 3) {
      send("hello");
      ++truncated;
    } else if (i % 5 == 4) {
      std::string bad = udp::build_connect_request(i);
      bad[0] = 'x';
      send(bad);
      ++garbage;
    } else {
      send(udp::build_connect_request(i));
      ++valid;
    }
  }
  pool_.start();
  auto got = receive(valid);
  EXPECT_EQ(got.size(), valid);
  for (auto& [tid, r] : got) {
    EXPECT_NE(tid % 5, 3u);
    EXPECT_NE(tid % 5, 4u);
    EXPECT_EQ(r.size(), 16u);
    EXPECT_EQ(be32(r, 0), 0u);  // connect
  }
  wait_dropped("truncated", truncated);
  wait_dropped("garbage", garbage);
  EXPECT_EQ(metrics_.udp_connects.value(), valid);
  EXPECT_EQ(dropped("send_failed"), 0u);
  EXPECT_EQ(dropped("send_queue_full"), 0u);
}

TEST_F(UdpServerSocketTest, BurstOfAnnouncesIsAnsweredInFull) {
  start_server("127.0.0.1");
  pool_.start();
  send(udp::build_connect_request(1));
  auto c = receive(1);
  ASSERT_EQ(c.size(), 1u);
  uint64_t cid = be64(c.begin()->second, 8);
  const uint32_t total = 3 * kUdpBatch + 1;
  for (uint32_t i = 0; i < total; ++i) {
    auto a = announce_request(cid);
    a.transaction_id = 1000 + i;
    a.peer_id.fill(static_cast<uint8_t>(i));
    a.url_data = "/announce/" + token::mint(kKey, "phone-" + std::to_string(i), clock_.unix_seconds() + 3600);
    send(udp::build_announce_request(a));
  }
  auto got = receive(total);
  ASSERT_EQ(got.size(), total);
  for (auto& [tid, r] : got) {
    EXPECT_GE(tid, 1000u);
    EXPECT_EQ(be32(r, 0), 1u) << r.substr(8);
    EXPECT_EQ((r.size() - 20) % 6, 0u);  // IPv4 peers
  }
}

TEST_F(UdpServerSocketTest, Ipv6SocketAnswers) {
  try {
    start_server("::1");
  } catch (const boost::system::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  pool_.start();
  for (uint32_t i = 0; i < kUdpBatch + 1; ++i) send(udp::build_connect_request(i));
  send("hello");
  auto got = receive(kUdpBatch + 1);
  EXPECT_EQ(got.size(), kUdpBatch + 1);
  wait_dropped("truncated", 1);
}

}  // namespace
}  // namespace otaswarm
