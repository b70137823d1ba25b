#include "tests/support/redis_fixture.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace otaswarm::testing {

namespace {

constexpr auto kStartLimit = std::chrono::seconds(10);
constexpr auto kStopLimit = std::chrono::seconds(5);
constexpr auto kClusterCreateLimit = std::chrono::seconds(60);
constexpr auto kPoll = std::chrono::milliseconds(50);
constexpr uint16_t kClusterBusOffset = 10000;
constexpr int kPortTries = 50;
// Failover in a few seconds instead of the default 15 s node timeout.
constexpr const char* kClusterNodeTimeoutMs = "2000";

bool port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

uint16_t ephemeral_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A port whose cluster bus port (port + 10000) is free too.
uint16_t pick_port(bool cluster) {
  for (int i = 0; i < kPortTries; ++i) {
    uint16_t p = ephemeral_port();
    if (cluster && (p + kClusterBusOffset > 65535 || !port_free(p + kClusterBusOffset))) continue;
    if (p != 0) return p;
  }
  throw std::runtime_error("no free port for redis-server");
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!log.empty()) {
      FILE* f = std::freopen(log.c_str(), "a", stdout);
      (void)f;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

bool wait_pid(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
  auto end = std::chrono::steady_clock::now() + limit;
  int st = 0;
  while (std::chrono::steady_clock::now() < end) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || r < 0) {
      if (status) *status = st;
      return true;
    }
    std::this_thread::sleep_for(kPoll);
  }
  return false;
}

std::string render(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_ARRAY: {
      std::string s;
      for (size_t i = 0; i < r->elements; ++i) s += render(r->element[i]) + "\n";
      return s;
    }
    default: return "(nil)";
  }
}

}  // namespace

RedisServer::RedisServer(bool cluster, uint16_t port) : cluster_(cluster), port_(port ? port : pick_port(cluster)) {
  char tmpl[] = "/tmp/otaswarm-redis-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  start();
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void RedisServer::start() {
  if (pid_ > 0) return;
  std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--dir", dir_, "--save", "", "--appendonly", "no", "--protected-mode", "no",
                                   "--daemonize", "no"};
  if (cluster_) {
    for (const char* a : {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                          kClusterNodeTimeoutMs})
      args.emplace_back(a);
  }
  pid_ = spawn(args, dir_ + "/redis.log");
  auto end = std::chrono::steady_clock::now() + kStartLimit;
  while (std::chrono::steady_clock::now() < end) {
    if (command({"PING"}) == "PONG") return;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start-up on port " + std::to_string(port_));
    }
    std::this_thread::sleep_for(kPoll);
  }
  stop();
  throw std::runtime_error("redis-server did not answer on port " + std::to_string(port_));
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!wait_pid(pid_, kStopLimit)) {
    ::kill(pid_, SIGKILL);
    wait_pid(pid_, kStopLimit);
  }
  pid_ = -1;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_pid(pid_, kStopLimit);
  pid_ = -1;
}

std::string RedisServer::command(const std::vector<std::string>& args) const {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return "";
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  std::string out = r ? render(r) : "";
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

RedisCluster::RedisCluster() {
  constexpr int kNodes = 6;
  for (int i = 0; i < kNodes; ++i) nodes_.push_back(std::make_unique<RedisServer>(true));
  std::vector<std::string> args = {"redis-cli", "--cluster", "create"};
  for (auto& n : nodes_) args.push_back(n->address());
  for (const char* a : {"--cluster-replicas", "1", "--cluster-yes"}) args.emplace_back(a);
  pid_t pid = spawn(args, "/dev/null");
  int st = 0;
  if (!wait_pid(pid, kClusterCreateLimit, &st)) {
    ::kill(pid, SIGKILL);
    wait_pid(pid, kStopLimit);
    throw std::runtime_error("redis-cli --cluster create timed out");
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw std::runtime_error("redis-cli --cluster create failed");
  if (!wait_ok(kClusterCreateLimit)) throw std::runtime_error("redis cluster did not reach cluster_state:ok");
}

RedisCluster::~RedisCluster() {
  for (auto& n : nodes_) n->stop();
}

std::string RedisCluster::url() const {
  std::string u = "redis-cluster://";
  for (size_t i = 0; i < nodes_.size(); ++i) u += (i ? "," : "") + nodes_[i]->address();
  return u;
}

bool RedisCluster::wait_ok(std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    bool all = true;
    for (auto& n : nodes_) {
      if (!n->running()) continue;
      // Replicas must also know every slot's master, or a failover would find no candidate.
      if (n->command({"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) all = false;
    }
    if (all) {
      for (auto& n : nodes_) {
        if (!n->running()) continue;
        std::string role = n->command({"ROLE"});
        if (role.starts_with("slave") && role.find("connected") == std::string::npos) all = false;
      }
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

RedisServer* RedisCluster::master_for_key(const std::string& key) {
  for (auto& n : nodes_) {
    if (!n->running() || n->command({"ROLE"}).rfind("master", 0) != 0) continue;
    // Only the owning master answers without a MOVED redirection.
    std::string r = n->command({"EXISTS", key});
    if (!r.empty() && r.rfind("MOVED", 0) != 0 && r.rfind("CLUSTERDOWN", 0) != 0) return n.get();
  }
  return nullptr;
}

RedisCluster& shared_cluster() {
  static RedisCluster c;
  return c;
}

RedisServer& shared_server() {
  static RedisServer s(false);
  return s;
}

}  // namespace otaswarm::testing
