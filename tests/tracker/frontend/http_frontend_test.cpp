#include "tracker/frontend/http_frontend.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/io_pool.h"
#include "tracker/store/memory_store.h"
#include "common/metrics.h"
#include "common/proto/token.h"
#include "tracker/admission.h"
#include "tracker/locality.h"
#include "tracker/release_registry.h"
#include "tracker/tracker_metrics.h"

namespace otaswarm {
namespace {

const std::string kKey = "tracker-test-key-0123456789abcdef";

store::InfoHash release_hash() {
  store::InfoHash h{};
  h.fill(0xaa);
  return h;
}

std::string repeat(const char* s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

class HttpFrontendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Release r;
    r.info_hash = release_hash();
    r.name = "ota-1";
    std::string err;
    ASSERT_EQ(registry_.add(r, err), ReleaseRegistry::AddResult::created);
    TrackerContext ctx;
    ctx.token_keys = token::KeyRing(kKey);
    ctx.clock = &clock_;
    ctx.registry = &registry_;
    ctx.store = &store_;
    ctx.locality = &locality_;
    ctx.metrics = &metrics_;
    handler_ = std::make_unique<AnnounceHandler>(std::move(ctx));
  }

  // Drives the front end's with a GET and returns the body (the handler answers synchronously).
  std::string get(const http::Handler& h, const std::string& target) {
    http::Request req{http::bhttp::verb::get, target, 11};
    std::string body;
    int calls = 0;
    h(std::move(req), http::ConnInfo{}, [&](http::Response&& res) {
      ++calls;
      EXPECT_EQ(res.result(), http::bhttp::status::ok);
      body = res.body();
    });
    EXPECT_EQ(calls, 1);
    return body;
  }

  std::string announce_target(const std::string& token) {
    return "/announce/" + token + "?info_hash=" + repeat("%AA", 20) + "&peer_id=" + repeat("%01", 20) +
           "&port=6881&uploaded=0&downloaded=0&left=100&event=started";
  }

  // A gate in a confirmed shedding episode with the latest sample over target.
  void overload(QueueDelayGate& g) {
    for (int t = 0; t <= QueueDelayGate::kShedConfirmMs; t += 10) {
      g.sample(500);
      clock_.advance_ms(10);
    }
    g.sample(500);
    ASSERT_TRUE(g.shedding());
  }

  uint64_t shed(const char* reason) { return metrics_.shed.with({reason}).value(); }

  ManualClock clock_;
  store::MemoryStore store_{{.seed = 7}, clock_};
  ReleaseRegistry registry_{nullptr};
  BasicLocality locality_;
  metrics::Registry mreg_;
  TrackerMetrics metrics_{mreg_};
  std::unique_ptr<AnnounceHandler> handler_;
};

TEST_F(HttpFrontendTest, ShedAnnounceGetsBusyFailureWithRetryInAndNoStoreWork) {
  QueueDelayGate gate({.queue_delay_ms = 50, .retry_s = 90, .busy_per_answer = kHttpBusyUnbounded}, clock_);
  overload(gate);
  auto h = make_tracker_http_handler(*handler_, {.gate = [&] { return &gate; }, .retry_s = 90});
  // The token is not even checked: shedding comes before any per-device work.
  auto body = get(h, announce_target("not-a-token"));
  EXPECT_EQ(body, "d14:failure reason27:tracker busy: retry in 90 s8:retry ini2ee");
  for (int i = 0; i < 99; ++i) get(h, announce_target(token::mint(kKey, std::to_string(i), clock_.unix_seconds() + 3600)));
  EXPECT_EQ(store_.peer_count(release_hash()), 0u);
  EXPECT_EQ(shed("http_queue_delay"), 100u);  // every one answered explicitly: no drops over HTTP
  EXPECT_EQ(shed("queue_delay_dropped"), 0u);
  EXPECT_EQ(metrics_.announces.with({"http", "started", "rate_limited"}).value(), 100u);
  EXPECT_EQ(metrics_.rejects.with({"overloaded"}).value(), 100u);
}

TEST_F(HttpFrontendTest, AnnouncesPassWhenTheQueueIsShortAndScrapesAreNeverShed) {
  QueueDelayGate gate({.queue_delay_ms = 50, .busy_per_answer = kHttpBusyUnbounded}, clock_);
  overload(gate);
  auto h = make_tracker_http_handler(*handler_, {.gate = [&] { return &gate; }});
  auto scrape = get(h, "/scrape/" + token::mint(kKey, "s", clock_.unix_seconds() + 3600) + "?info_hash=" +
                           repeat("%AA", 20));
  EXPECT_EQ(scrape.find("failure reason"), std::string::npos) << scrape;
  gate.sample(10);  // worked down to below the target
  auto body = get(h, announce_target(token::mint(kKey, "a", clock_.unix_seconds() + 3600)));
  EXPECT_EQ(body.find("failure reason"), std::string::npos) << body;
  EXPECT_EQ(store_.peer_count(release_hash()), 1u);
  EXPECT_EQ(shed("http_queue_delay"), 0u);
  // No gate (another thread, or shedding off): never shed.
  auto off = make_tracker_http_handler(*handler_, {.gate = [] { return static_cast<QueueDelayGate*>(nullptr); }});
  gate.sample(500);
  EXPECT_EQ(get(off, announce_target(token::mint(kKey, "b", clock_.unix_seconds() + 3600))).find("failure reason"),
            std::string::npos);
}

}  // namespace
}  // namespace otaswarm
