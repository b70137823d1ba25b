// otaswarm-stun-bench: STUN Binding load generator for docs/rendezvous-benchmarks.md.
// Several client sockets each keep a window of requests in flight against one server for a
// fixed time and count valid Binding success responses. Prints one JSON object.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/proto/stun.h"

namespace {
using namespace otaswarm;
using SteadyClock = std::chrono::steady_clock;
constexpr int kPollMs = 50;  // a window lost to drops is re-sent after this

int usage() {
  std::fprintf(stderr, "usage: otaswarm-stun-bench SERVER_IP:PORT [--threads N] [--window W] [--seconds S]\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  auto server = net::parse_host_port(argv[1]);
  if (!server) return usage();
  int threads = 2, window = 32;
  double seconds = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--window") window = std::atoi(argv[i + 1]);
    else if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    else return usage();
  }
  if (threads < 1 || window < 1 || seconds <= 0) return usage();
  std::atomic<uint64_t> ok{0}, sent{0}, bad{0};
  auto end = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      boost::asio::ip::udp::endpoint ep(server->address, server->port);
      int fd = ::socket(ep.protocol().family(), SOCK_DGRAM, 0);
      if (fd < 0 || ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) std::exit(1);
      stun::Builder b(stun::method::binding, stun::Class::request, stun::random_transaction_id());
      b.add_fingerprint();
      const std::string req = b.bytes();
      char buf[2048];
      uint64_t my_ok = 0, my_sent = 0, my_bad = 0;
      auto send_one = [&] {
        if (::send(fd, req.data(), req.size(), 0) > 0) ++my_sent;
      };
      for (int i = 0; i < window; ++i) send_one();
      while (SteadyClock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, kPollMs) <= 0) {
          for (int i = 0; i < window; ++i) send_one();
          continue;
        }
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) continue;
        auto r = stun::parse(std::string_view(buf, static_cast<size_t>(n)));
        if (r.ok() && r.message.cls() == stun::Class::success && r.message.find(stun::attr::xor_mapped_address)) ++my_ok;
        else ++my_bad;
        send_one();
      }
      ok += my_ok;
      sent += my_sent;
      bad += my_bad;
      ::close(fd);
    });
  for (auto& t : ts) t.join();
  std::printf("{\"responses\":%llu,\"sent\":%llu,\"bad\":%llu,\"seconds\":%.1f,\"responses_per_second\":%.0f}\n",
              static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(sent.load()),
              static_cast<unsigned long long>(bad.load()), seconds, static_cast<double>(ok.load()) / seconds);
  return 0;
}
