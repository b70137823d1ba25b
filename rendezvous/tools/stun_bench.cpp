// otaswarm-stun-bench: STUN load generator for docs/rendezvous-benchmarks.md.
// Client threads each keep a window of requests in flight against one server for a fixed time
// and count valid success responses. With --sources N (IPv4 loopback server) the requests
// leave from N distinct addresses 127.0.0.1, 127.0.0.2, … in turn, as phones come from many
// addresses; with --method register source k is device "bench-<k>" sending RDV-REGISTER with
// its own token (--token-key-file), always from the same address. Prints one JSON object.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/net.h"
#include "common/proto/stun.h"
#include "common/proto/token.h"

namespace {
using namespace otaswarm;
using SteadyClock = std::chrono::steady_clock;
constexpr int kPollMs = 50;              // requests unanswered this long are re-sent
constexpr int64_t kTokenTtlS = 3600;
constexpr size_t kInfoHashSize = 20;
constexpr uint32_t kMaxSources = 1u << 22;  // 127.0.0.1 … 127.63.255.255
constexpr uint64_t kFullCheckEvery = 64;
constexpr int kReceiveBuffer = 4 << 20;

int usage() {
  std::fprintf(stderr,
               "usage: otaswarm-stun-bench SERVER_IP:PORT [--threads N] [--window W] [--seconds S]\n"
               "       [--sources N] [--method binding|register] [--token-key-file FILE]\n");
  return 2;
}

// The k-th source address: 127.0.0.1, 127.0.0.2, … skipping .0 and .255 host bytes.
std::string source_ip(uint32_t k) {
  uint32_t host = k / 254 * 256 + k % 254 + 1;
  return "127." + std::to_string((host >> 16) & 0xFF) + "." + std::to_string((host >> 8) & 0xFF) + "." +
         std::to_string(host & 0xFF);
}

std::string request(const std::string& method, const std::string& key, uint32_t k) {
  if (method == "binding") {
    stun::Builder b(stun::method::binding, stun::Class::request, stun::random_transaction_id());
    b.add_fingerprint();
    return b.bytes();
  }
  std::string device = "bench-" + std::to_string(k);
  stun::Builder b(stun::method::rdv_register, stun::Class::request, stun::random_transaction_id());
  b.add(stun::attr::rdv_token, token::mint(key, device, std::time(nullptr) + kTokenTtlS))
      .add(stun::attr::rdv_info_hash, std::string(kInfoHashSize, 'b'))
      .add(stun::attr::rdv_nat_class, std::string{1, 3, 0, 0})
      .add_fingerprint();
  return b.bytes();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  auto server = net::parse_host_port(argv[1]);
  if (!server) return usage();
  int threads = 2, window = 32, sources = 0;
  double seconds = 5;
  std::string method = "binding", key;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--window") window = std::atoi(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (k == "--sources") sources = std::atoi(argv[i + 1]);
    else if (k == "--method") method = argv[i + 1];
    else if (k == "--token-key-file") {
      try {
        key = config::read_secret_file("token-key-file", argv[i + 1]);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
      }
    } else return usage();
  }
  if (sources == 0) sources = threads;  // one source per thread: the socket's own address
  if (threads < 1 || window < 1 || seconds <= 0 || sources < threads || static_cast<uint32_t>(sources) > kMaxSources ||
      (method != "binding" && method != "register") || (method == "register" && key.empty()))
    return usage();
  const uint16_t want = method == "binding" ? stun::method::binding : stun::method::rdv_register;
  std::atomic<uint64_t> ok{0}, sent{0}, bad{0}, resent{0};
  auto end = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      boost::asio::ip::udp::endpoint to(server->address, server->port);
      // One unconnected socket per thread on the wildcard address; each request leaves from
      // its source's address (IP_PKTINFO), so the replies to all of them come back here and
      // the generator batches both ways (sendmmsg, recvmmsg) whatever the number of sources.
      bool many = sources > threads;
      int fd = ::socket(to.protocol().family(), SOCK_DGRAM, 0);
      if (fd < 0) std::exit(1);
      boost::asio::ip::udp::endpoint any(to.protocol(), 0);
      if (::bind(fd, any.data(), static_cast<socklen_t>(any.size())) != 0) std::exit(1);
      int rcvbuf = kReceiveBuffer;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
      std::vector<in_addr> src;
      std::vector<std::string> reqs;
      for (int k = t; k < sources; k += threads) {
        in_addr a{};
        ::inet_pton(AF_INET, source_ip(static_cast<uint32_t>(k)).c_str(), &a);
        src.push_back(a);
        reqs.push_back(request(method, key, static_cast<uint32_t>(k)));
      }
      constexpr size_t kBatch = 64;
      constexpr size_t kCmsgSpace = CMSG_SPACE(sizeof(in_pktinfo));
      std::vector<std::array<char, 2048>> bufs(kBatch);
      std::array<iovec, kBatch> iov{}, oiov{};
      std::array<mmsghdr, kBatch> msgs{}, out{};
      std::vector<std::array<char, kCmsgSpace>> ctl(kBatch);
      size_t next = 0;
      uint64_t checked = 0;
      // The generator must stay cheaper than the server: most replies are checked by their
      // header (success type of the method, magic cookie, length), every kFullCheckEvery-th
      // is parsed in full, FINGERPRINT and XOR-MAPPED-ADDRESS included.
      const uint16_t want_type = stun::message_type(want, stun::Class::success);
      auto cheap_ok = [&](std::string_view d) {
        if (d.size() < stun::kHeaderSize) return false;
        auto u8 = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(d[i])); };
        return (u8(0) << 8 | u8(1)) == want_type && (u8(2) << 8 | u8(3)) + stun::kHeaderSize == d.size() &&
               (u8(4) << 24 | u8(5) << 16 | u8(6) << 8 | u8(7)) == stun::kMagicCookie;
      };
      uint64_t my_ok = 0, my_sent = 0, my_bad = 0;
      auto send_n = [&](size_t n) {  // the next n sources' requests, one sendmmsg per kBatch
        for (size_t done = 0; done < n;) {
          size_t k = std::min(kBatch, n - done);
          for (size_t i = 0; i < k; ++i) {
            size_t s = (next + i) % reqs.size();
            oiov[i] = {reqs[s].data(), reqs[s].size()};
            out[i] = {};
            auto& h = out[i].msg_hdr;
            h.msg_name = to.data();
            h.msg_namelen = static_cast<socklen_t>(to.size());
            h.msg_iov = &oiov[i];
            h.msg_iovlen = 1;
            if (many && to.address().is_v4()) {
              h.msg_control = ctl[i].data();
              h.msg_controllen = kCmsgSpace;
              auto* c = CMSG_FIRSTHDR(&h);
              c->cmsg_level = IPPROTO_IP;
              c->cmsg_type = IP_PKTINFO;
              c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
              in_pktinfo pi{};
              pi.ipi_spec_dst = src[s];
              std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
            }
          }
          int m = ::sendmmsg(fd, out.data(), static_cast<unsigned>(k), 0);
          if (m <= 0) break;
          next = (next + static_cast<size_t>(m)) % reqs.size();
          my_sent += static_cast<uint64_t>(m);
          done += static_cast<size_t>(m);
        }
      };
      send_n(static_cast<size_t>(window));
      // Every kPollMs, requests sent before the previous mark and still unanswered are taken
      // as lost (a full socket buffer drops them) and sent again, so the window stays full.
      uint64_t lost = 0, mark = my_sent;
      auto next_check = SteadyClock::now() + std::chrono::milliseconds(kPollMs);
      for (auto now = SteadyClock::now(); now < end; now = SteadyClock::now()) {
        if (now >= next_check) {
          uint64_t answered = my_ok + my_bad + lost;
          if (answered < mark) {
            lost += mark - answered;
            send_n(static_cast<size_t>(mark - answered));
          }
          mark = my_sent;
          next_check = now + std::chrono::milliseconds(kPollMs);
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, kPollMs) <= 0) continue;
        for (;;) {
          for (size_t i = 0; i < kBatch; ++i) {
            iov[i] = {bufs[i].data(), bufs[i].size()};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
          }
          int n = ::recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
          if (n <= 0) break;
          for (int i = 0; i < n; ++i) {
            std::string_view d(bufs[i].data(), msgs[i].msg_len);
            if (++checked % kFullCheckEvery == 0) {
              auto r = stun::parse(d);
              if (r.ok() && r.message.cls() == stun::Class::success && r.message.method() == want &&
                  r.message.find(stun::attr::xor_mapped_address))
                ++my_ok;
              else
                ++my_bad;
            } else if (cheap_ok(d)) {
              ++my_ok;
            } else {
              ++my_bad;
            }
          }
          send_n(static_cast<size_t>(n));
          if (static_cast<size_t>(n) < kBatch) break;
        }
      }
      ok += my_ok;
      sent += my_sent;
      resent += lost;
      bad += my_bad;
      ::close(fd);
    });
  for (auto& t : ts) t.join();
  std::printf("{\"method\":\"%s\",\"sources\":%d,\"responses\":%llu,\"sent\":%llu,\"resent\":%llu,\"bad\":%llu,"
              "\"seconds\":%.1f,\"responses_per_second\":%.0f}\n",
              method.c_str(), sources, static_cast<unsigned long long>(ok.load()),
              static_cast<unsigned long long>(sent.load()), static_cast<unsigned long long>(resent.load()),
              static_cast<unsigned long long>(bad.load()), seconds,
              static_cast<double>(ok.load()) / seconds);
  return 0;
}
