#pragma once
// Real redis-server processes for tests: free loopback ports, one temp dir per node, a
// bounded start-up, and every process stopped by its PID (also when the test binary dies:
// the children get SIGKILL through PR_SET_PDEATHSIG).
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace otaswarm::testing {

class RedisServer {
 public:
  // cluster = start with cluster-enabled (a node of a RedisCluster).
  explicit RedisServer(bool cluster = false, uint16_t port = 0);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }
  void stop();   // SIGTERM, then SIGKILL after a bound
  void kill();   // SIGKILL: a crash
  void start();  // (re)starts on the same port and dir
  // One command over a blocking hiredis connection; "" on failure, else the reply rendered as text.
  std::string command(const std::vector<std::string>& args) const;

 private:
  bool cluster_;
  uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

// 3 masters + 3 replicas on loopback, created with redis-cli --cluster create.
class RedisCluster {
 public:
  RedisCluster();
  ~RedisCluster();
  std::string url() const;  // redis-cluster://h:p,h:p,...
  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }
  // The master currently serving `key`, or nullptr.
  RedisServer* master_for_key(const std::string& key);
  // Waits (bounded) until every running node reports cluster_state:ok.
  bool wait_ok(std::chrono::seconds limit);

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

// Started once per test binary (a cluster takes seconds to form), stopped at exit.
RedisCluster& shared_cluster();
RedisServer& shared_server();

}  // namespace otaswarm::testing
