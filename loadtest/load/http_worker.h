#pragma once
// HTTP announce client: keep-alive connections grouped by source slot (a phone always
// announces from its slot's address); one request in flight per connection, no pipelining.
#include <memory>
#include <vector>

#include "loadtest/load/worker.h"

namespace otaswarm::loadtest {

class HttpConnection;

class HttpWorker final : public Worker {
 public:
  explicit HttpWorker(WorkerConfig config);
  ~HttpWorker() override;

 protected:
  void issue(uint32_t phone, Phase phase, int64_t now_ns) override;
  void sweep(int64_t now_ns) override {}  // each connection carries its own deadline
  size_t inflight() const override { return busy_; }
  void shutdown() override;

 private:
  friend class HttpConnection;
  void on_done(HttpConnection& c);
  void forget(HttpConnection& c);

  std::vector<std::vector<std::shared_ptr<HttpConnection>>> by_slot_;
  size_t open_ = 0;
  size_t busy_ = 0;
};

}  // namespace otaswarm::loadtest
