#include "common/io_pool.h"

namespace otaswarm {

IoPool::IoPool(size_t threads) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.push_back(std::make_unique<Guard>(contexts_.back()->get_executor()));
  }
}

IoPool::~IoPool() { stop_now(); }

boost::asio::io_context& IoPool::next() { return *contexts_[rr_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]; }

void IoPool::start() {
  for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
}

void IoPool::drain_and_join() {
  guards_.clear();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void IoPool::stop_now() {
  guards_.clear();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace otaswarm
