#pragma once
// A small asynchronous Redis / Redis Cluster client over hiredis's reply parser and
// Boost.Asio. One connection per node, every request pipelined on it (no connection per
// request), a deadline per request, CRC16 slot routing with CLUSTER SLOTS topology,
// MOVED/ASK redirection, topology refresh, and reconnects with exponential backoff.
//
// The client owns one I/O thread; every connection lives on it, so connection state needs
// no lock. execute() may be called from any thread; the callback runs on the client's
// thread exactly once, at the latest shortly after the request's deadline.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/redis/protocol.h"

namespace otaswarm::redis {

enum class Errc : uint8_t {
  ok,
  timeout,         // the deadline passed before a reply arrived
  unavailable,     // no route: node down, no topology, cluster down; the command was not sent
  connection_lost, // sent, then the connection broke: the outcome is unknown
  server_error,    // Redis answered with an error reply (in `reply`)
  protocol,        // unparsable reply stream
  overloaded,      // pipeline limit reached
  shutdown,
};
const char* to_string(Errc e);

struct Result {
  Errc err = Errc::ok;
  std::string message;
  Reply reply;
  bool ok() const { return err == Errc::ok; }
};
using Callback = std::function<void(Result&&)>;

struct ClientOptions {
  std::vector<Endpoint> seeds;
  bool cluster = false;
  std::string username;  // AUTH [username] password on every connection when password is set
  std::string password;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{2000};
  // A reply overdue by this much means the node hangs: the connection is dropped.
  std::chrono::milliseconds stall_timeout{3000};
  std::chrono::milliseconds topology_refresh{10000};
  std::chrono::milliseconds retry_delay{50};
  size_t max_pipeline_depth = 65536;  // requests in flight per connection
  int max_redirects = 5;
};

struct ClientStats {
  uint64_t reconnects = 0;
  uint64_t redirects = 0;
  uint64_t topology_refreshes = 0;
  uint64_t in_flight = 0;  // requests sent and not yet answered, all connections
};

class Client {
 public:
  explicit Client(ClientOptions opts);
  ~Client();  // pending callbacks get Errc::shutdown
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // `route_key` picks the cluster slot; empty = any node.
  void execute(std::vector<std::string> args, std::string route_key, std::chrono::milliseconds timeout, Callback cb);
  // Blocking form for start-up and admin paths; never call it on the client's own thread.
  Result execute_sync(std::vector<std::string> args, std::string route_key, std::chrono::milliseconds timeout);

  // True when every slot has a reachable master (single mode: the node is connected).
  bool up(std::string& why) const;
  ClientStats stats() const;
  bool cluster() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace otaswarm::redis
