// The UDP client against a scripted BEP 15 responder that drops, garbles, refuses and answers
// announces in turn: every request must end exactly once, in the right bucket.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/proto/bep15_client.h"
#include "loadtest/load/runner.h"

namespace otaswarm::loadtest {
namespace {

constexpr uint64_t kConnectionId = 0x4242424242424242ULL;

void put32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (i * 8));
}
uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

class ScriptedTracker {
 public:
  ScriptedTracker() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{0, 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptedTracker() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::atomic<unsigned> announces{0}, connects{0}, bad_url{0};
  std::string expected_url;

 private:
  void loop() {
    uint8_t buf[2048], out[64];
    while (!stop_) {
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 16) continue;
      uint32_t action = get32(buf + 8), txid = get32(buf + 12);
      if (action == bep15::connect) {
        ++connects;
        put32(out, bep15::connect);
        put32(out + 4, txid);
        for (int i = 0; i < 8; ++i) out[8 + i] = 0x42;
        ::sendto(fd_, out, 16, 0, reinterpret_cast<sockaddr*>(&from), flen);
        continue;
      }
      if (action != bep15::announce || n < 98) continue;
      if (std::string(reinterpret_cast<char*>(buf + 100), static_cast<size_t>(buf[99])) != expected_url) ++bad_url;
      unsigned k = announces++;
      size_t len = 0;
      switch (k % 4) {
        case 0: continue;  // dropped: the client must time it out
        case 1:            // garbled: 20-byte header plus 5 stray bytes
          put32(out, bep15::announce);
          put32(out + 4, txid);
          len = 25;
          break;
        case 2: {  // refused with a BEP 15 error
          put32(out, bep15::error);
          put32(out + 4, txid);
          std::memcpy(out + 8, "not registered", 14);
          len = 22;
          break;
        }
        case 3:  // answered with one peer
          put32(out, bep15::announce);
          put32(out + 4, txid);
          put32(out + 8, 1800);
          put32(out + 12, 1);
          put32(out + 16, 0);
          len = 26;
          break;
      }
      ::sendto(fd_, out, len, 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(UdpWorker, EveryRequestEndsExactlyOnce) {
  ScriptedTracker tracker;
  tracker.expected_url = "/announce/some-token";
  LoadOptions o;
  std::string why;
  auto t = parse_target("udp://127.0.0.1:" + std::to_string(tracker.port()) + "/announce/some-token", why);
  ASSERT_TRUE(t) << why;
  o.target = *t;
  o.rate = 320;
  o.duration_s = 0.5;
  o.max_requests = 1000;
  o.threads = 2;
  // Generous: a late answer on a busy machine would count as a timeout and skew the buckets.
  o.timeout_ns = 2'000'000'000;
  o.population.phones = 20;
  o.population.slots = 4;
  o.population.info_hashes.push_back(crypto::sha1("x"));
  o.population.path_base = t->path;
  std::atomic<bool> stop{false};
  LoadResult r = run_load(o, stop);
  PhaseStats total = r.stats.total();

  EXPECT_EQ(total.offered, 160u);
  EXPECT_EQ(total.sent, 160u);
  EXPECT_EQ(total.not_sent_total(), 0u);
  EXPECT_EQ(total.answered, 40u);
  EXPECT_EQ(total.timeouts, 40u);
  EXPECT_EQ(total.errors[static_cast<unsigned>(ErrorKind::bad_reply)], 40u);
  EXPECT_EQ(total.errors[static_cast<unsigned>(ErrorKind::tracker_failure)], 40u);
  EXPECT_EQ(total.answered + total.errors_total() + total.timeouts, total.sent);
  EXPECT_EQ(total.latency.count(), total.answered);
  EXPECT_EQ(r.stats.peers_received, 40u);
  EXPECT_EQ(r.stats.failure_reasons, (std::map<std::string, uint64_t>{{"not registered", 40}}));
  EXPECT_EQ(r.stats.connects_sent, r.stats.connects_answered);
  EXPECT_EQ(tracker.connects.load(), r.stats.connects_sent);
  EXPECT_EQ(tracker.announces.load(), 160u);
  EXPECT_EQ(tracker.bad_url.load(), 0u);
  EXPECT_EQ(r.stats.events[static_cast<unsigned>(Event::started)], 20u);
}

TEST(UdpWorker, SilentTrackerGivesTimeoutsNotAHang) {
  LoadOptions o;
  std::string why;
  // A bound socket nobody reads: datagrams vanish without an ICMP error.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto t = parse_target("udp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), why);
  ASSERT_TRUE(t) << why;
  o.target = *t;
  o.rate = 100;
  o.duration_s = 0.3;
  o.max_requests = 1000;
  o.timeout_ns = 200'000'000;
  o.population.phones = 5;
  o.population.info_hashes.push_back(crypto::sha1("x"));
  std::atomic<bool> stop{false};
  LoadResult r = run_load(o, stop);
  ::close(fd);
  PhaseStats total = r.stats.total();
  EXPECT_EQ(total.sent, 30u);
  EXPECT_EQ(total.timeouts, 30u);
  EXPECT_EQ(total.answered, 0u);
  EXPECT_GE(r.stats.connect_failures, 1u);
}

}  // namespace
}  // namespace otaswarm::loadtest
