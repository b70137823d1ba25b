#include "loadtest/swarm/tracker_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>

#include "common/crypto.h"
#include "common/http/client.h"
#include "common/json.h"
#include "common/net.h"
#include "common/proto/bep15_client.h"

namespace otaswarm::sim {

namespace {

constexpr int kReadyTimeoutMs = 15000;
constexpr int kStopTimeoutMs = 10000;
constexpr int kStopPollMs = 20;
constexpr int kReplyTimeoutMs = 1000;
constexpr int kAttempts = 4;
constexpr size_t kMaxDatagram = 65536;
constexpr size_t kPeerEntry = 6;
constexpr size_t kSecretBytes = 32;
constexpr unsigned kCreated = 201;
constexpr unsigned kOk = 200;
// BEP 15 connection IDs stay valid for a minute or two; renew well before.
constexpr auto kConnectionIdLifetime = std::chrono::seconds(50);

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string random_secret() {
  std::string raw(kSecretBytes, '\0');
  crypto::random_bytes(raw.data(), raw.size());
  return crypto::hex(std::string_view(raw));
}

net::HostPort host_port(const Json& ready, const char* key) {
  auto v = ready.find(key);
  std::string text;
  if (v != ready.end() && v->is_string()) text = v->get<std::string>();
  else if (v != ready.end() && v->is_array() && !v->empty() && (*v)[0].is_string())
    text = (*v)[0].get<std::string>();
  auto hp = net::parse_host_port(text);
  if (!hp) throw std::runtime_error(std::string("tracker ready line has no usable \"") + key + "\" address");
  return *hp;
}

uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

}  // namespace

uint32_t parse_ipv4(const std::string& dotted) {
  in_addr a{};
  if (::inet_pton(AF_INET, dotted.c_str(), &a) != 1) throw std::runtime_error("bad IPv4 address " + dotted);
  return ntohl(a.s_addr);
}

std::string format_ipv4(uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string sibling_tracker_binary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
  return (self.parent_path() / "otaswarm-tracker").string();
}

TrackerProcess::TrackerProcess(const TrackerOptions& opts) {
  if (::access(opts.binary.c_str(), X_OK) != 0) throw std::runtime_error("tracker binary not found: " + opts.binary);
  char tmpl[] = "/tmp/otaswarm-sim-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a temp dir");
  dir_ = tmpl;
  token_key_ = random_secret();
  admin_token_ = random_secret();
  write_file(dir_ + "/token.key", token_key_ + "\n");
  write_file(dir_ + "/admin.token", admin_token_ + "\n");
  std::vector<std::string> args = {opts.binary,
                                   "--http-listen", "127.0.0.1:0",
                                   "--udp-listen", "127.0.0.1:0",
                                   "--admin-listen", "127.0.0.1:0",
                                   "--token-key-file", dir_ + "/token.key",
                                   "--admin-token-file", dir_ + "/admin.token",
                                   "--data-dir", dir_ + "/data",
                                   "--threads", "1",
                                   "--log-level", "warn"};
  if (!opts.locality_map_json.empty()) {
    write_file(dir_ + "/alto.json", opts.locality_map_json);
    args.insert(args.end(), {"--locality-map", dir_ + "/alto.json"});
  }
  args.insert(args.end(), opts.flags.begin(), opts.flags.end());

  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::string log = dir_ + "/tracker.log";
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // The tracker must not outlive a simulator that crashes or is killed by a test timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(out[1], STDOUT_FILENO);
    if (log_fd >= 0) ::dup2(log_fd, STDERR_FILENO);
    ::close(out[0]);
    ::execv(opts.binary.c_str(), argv.data());
    ::_exit(127);
  }
  int rc = pid_ < 0 ? errno : 0;
  if (log_fd >= 0) ::close(log_fd);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    pid_ = -1;
    throw std::runtime_error("cannot start " + opts.binary + ": " + std::strerror(rc));
  }
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadyTimeoutMs);
  while (line.find('\n') == std::string::npos) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now()).count());
    pollfd p{out[0], POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  std::string why;
  auto doc = json_parse(line.substr(0, line.find('\n')), why);
  if (!doc || !doc->is_object() || !doc->contains("ready")) {
    std::ifstream f(log);
    std::string err((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    stop();
    throw std::runtime_error("tracker did not become ready: " + err.substr(0, 500));
  }
  auto udp = host_port(*doc, "udp");
  auto admin = host_port(*doc, "admin");
  udp_host_ = net::unmap(udp.address).to_string();
  udp_port_ = udp.port;
  admin_host_ = net::unmap(admin.address).to_string();
  admin_port_ = admin.port;
}

TrackerProcess::~TrackerProcess() {
  stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void TrackerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int waited = 0; waited < kStopTimeoutMs; waited += kStopPollMs) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    ::usleep(kStopPollMs * 1000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void TrackerProcess::register_release(const std::string& torrent) {
  http::Url admin{"http", admin_host_, admin_port_, "/api/v1/releases"};
  auto res = http::request(boost::beast::http::verb::post, admin,
                           {{"Authorization", "Bearer " + admin_token_}, {"Content-Type", "application/x-bittorrent"}},
                           torrent);
  if (res.status != kCreated)
    throw std::runtime_error("release registration failed: HTTP " + std::to_string(res.status) + " " + res.body);
}

void TrackerProcess::set_origin_policy(const std::string& info_hash_hex, const std::string& json) {
  http::Url admin{"http", admin_host_, admin_port_, "/api/v1/releases/" + info_hash_hex + "/origin-policy"};
  auto res = http::request(boost::beast::http::verb::put, admin,
                           {{"Authorization", "Bearer " + admin_token_}, {"Content-Type", "application/json"}}, json);
  if (res.status != kOk)
    throw std::runtime_error("origin policy rejected: HTTP " + std::to_string(res.status) + " " + res.body);
}

UdpAnnouncer::UdpAnnouncer(std::string tracker_host, uint16_t tracker_port)
    : host_(std::move(tracker_host)), port_(tracker_port) {}

bool UdpAnnouncer::exchange(int fd, const uint8_t* req, size_t len, uint32_t tid, std::vector<uint8_t>& reply) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (::send(fd, req, len, 0) != static_cast<ssize_t>(len)) continue;
    ++exchanges_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReplyTimeoutMs);
    while (true) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
      reply.resize(kMaxDatagram);
      ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
      if (n < 8) continue;
      reply.resize(static_cast<size_t>(n));
      if (get32(reply.data() + 4) == tid) return true;
    }
  }
  return false;
}

AnnounceResult UdpAnnouncer::announce(const std::string& source_ip, const AnnounceParams& p) {
  AnnounceResult r;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = "socket failed";
    return r;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(parse_ipv4(source_ip));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(parse_ipv4(host_));
  dst.sin_port = htons(port_);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    r.error = "cannot bind " + source_ip + ": " + std::strerror(errno);
    return r;
  }
  std::vector<uint8_t> reply;
  auto& cached = ids_[source_ip];
  auto now = std::chrono::steady_clock::now();
  for (int round = 0; round < 2; ++round) {
    if (cached.id == 0 || now - cached.at > kConnectionIdLifetime) {
      std::array<uint8_t, loadtest::bep15::kConnectRequestSize> c{};
      uint32_t tid = next_tid_++;
      loadtest::bep15::build_connect(tid, c);
      if (!exchange(fd, c.data(), c.size(), tid, reply)) {
        r.error = "no reply to connect";
        return r;
      }
      loadtest::bep15::Reply cr;
      if (loadtest::bep15::parse_reply(reply, false, cr) != loadtest::bep15::ReplyError::ok ||
          cr.action != loadtest::bep15::connect) {
        r.error = "bad connect reply";
        return r;
      }
      cached = {cr.connection_id, now};
    }
    loadtest::bep15::AnnounceRequest a;
    a.connection_id = cached.id;
    a.transaction_id = next_tid_++;
    a.info_hash = p.info_hash;
    a.peer_id = p.peer_id;
    a.downloaded = static_cast<int64_t>(p.downloaded);
    a.left = static_cast<int64_t>(p.left);
    a.uploaded = static_cast<int64_t>(p.uploaded);
    a.event = p.event;
    a.key = a.transaction_id;
    a.num_want = p.numwant;
    a.port = p.port;
    a.url_data = p.url_data;
    std::array<uint8_t, loadtest::bep15::kMaxAnnounceRequest> buf{};
    size_t len = loadtest::bep15::build_announce(a, buf);
    if (len == 0) {
      r.error = "announce URL data too long";
      return r;
    }
    if (!exchange(fd, buf.data(), len, a.transaction_id, reply)) {
      r.error = "no reply to announce";
      return r;
    }
    loadtest::bep15::Reply ar;
    if (loadtest::bep15::parse_reply(reply, false, ar, p.origin) != loadtest::bep15::ReplyError::ok) {
      r.error = "malformed announce reply";
      return r;
    }
    if (ar.action == loadtest::bep15::error) {
      r.error = ar.message;
      // A stale connection ID is answered with an error: connect again once.
      cached.id = 0;
      continue;
    }
    r.ok = true;
    r.interval = ar.interval;
    r.has_origin = ar.has_origin;
    r.origin = ar.origin;
    for (size_t i = 0, off = loadtest::bep15::kAnnounceReplyHeader; i < ar.peers; ++i, off += kPeerEntry)
      r.peers.push_back({get32(reply.data() + off),
                         static_cast<uint16_t>(reply[off + 4] << 8 | reply[off + 5])});
    return r;
  }
  return r;
}

}  // namespace otaswarm::sim
