#include "tracker/frontend/http_frontend.h"

#include <cmath>

#include "tracker/tracker_metrics.h"

namespace otaswarm {

using http::bhttp::status;

namespace {
http::Response bencoded(const http::Request& req, std::string body) {
  // Failures are still 200: BitTorrent clients read the failure reason from the body.
  auto res = http::make_response(req, status::ok, std::move(body), "text/plain");
  res.set(http::bhttp::field::cache_control, "no-cache");
  return res;
}

// A shed announce over HTTP: counted like a UDP busy reply, answered without token or store work.
std::string busy_reply(const AnnounceHandler& handler, const HttpShedding& shedding, store::Event ev) {
  const TrackerContext& ctx = handler.context();
  double factor = ctx.admission ? ctx.admission->interval_factor() : 1.0;
  auto retry = static_cast<uint32_t>(std::ceil(shedding.retry_s * factor));
  if (TrackerMetrics* m = ctx.metrics) {
    m->shed_ctr[TrackerMetrics::kShedHttpQueueDelay]->inc();
    m->reject_counter(Reject::overloaded).inc();
    m->announce_counter(Protocol::http, ev, TrackerMetrics::AnnounceResult::rate_limited).inc();
  }
  // BEP 31's "retry in" is in minutes: round up so a device never comes back early.
  return encode_failure("tracker busy: retry in " + std::to_string(retry) + " s", (retry + 59) / 60);
}
}  // namespace

http::Handler make_tracker_http_handler(const AnnounceHandler& handler, HttpShedding shedding) {
  return [&handler, shedding](http::Request&& req, const http::ConnInfo& info, http::Done done) {
    if (req.method() != http::bhttp::verb::get)
      return done(http::text_response(req, status::method_not_allowed, "use GET\n"));
    std::string_view target = req.target();
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    std::optional<std::string> forwarded;
    if (auto it = req.find("X-Forwarded-For"); it != req.end()) forwarded = std::string(it->value());

    std::string token;
    if (token_from_path(path, "announce", token)) {
      AnnounceRequest ar;
      ar.protocol = Protocol::http;
      ar.token = std::move(token);
      ar.source = info.remote.address();
      ar.forwarded_for = std::move(forwarded);
      if (auto err = parse_announce_query(query, ar)) {
        handler.context().metrics->reject_counter(Reject::bad_request).inc();
        handler.context().metrics->announce_counter(Protocol::http, store::Event::none, TrackerMetrics::AnnounceResult::error).inc();
        return done(bencoded(req, encode_failure("bad announce: " + *err)));
      }
      if (QueueDelayGate* gate = shedding.gate ? shedding.gate() : nullptr;
          gate && gate->next() != QueueDelayGate::Verdict::handle)
        return done(bencoded(req, busy_reply(handler, shedding, ar.event)));
      auto shared = std::make_shared<http::Request>(std::move(req));
      auto arp = std::make_shared<AnnounceRequest>(std::move(ar));
      return handler.announce(*arp, [shared, arp, done](AnnounceResponse&& res) {
        done(bencoded(*shared, encode_announce(*arp, res)));
      });
    }
    if (token_from_path(path, "scrape", token)) {
      ScrapeRequest sr;
      sr.protocol = Protocol::http;
      sr.token = std::move(token);
      sr.source = info.remote.address();
      if (auto err = parse_scrape_query(query, sr)) {
        handler.context().metrics->reject_counter(Reject::bad_request).inc();
        return done(bencoded(req, encode_failure("bad scrape: " + *err)));
      }
      auto shared = std::make_shared<http::Request>(std::move(req));
      return handler.scrape(sr, [shared, done](ScrapeResponse&& res) { done(bencoded(*shared, encode_scrape(res))); });
    }
    if (path == "/healthz") return done(http::text_response(req, status::ok, "ok\n"));
    done(http::make_response(req, status::not_found, encode_failure("not an announce or scrape URL"), "text/plain"));
  };
}

}  // namespace otaswarm
