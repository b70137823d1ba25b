#include <utility>  // std::exchange, which Boost 1.74's awaitable.hpp uses without including
#include "common/http/client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <strings.h>

#include <exception>

namespace otaswarm::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr uint16_t kDefaultHttpPort = 80;
constexpr unsigned kHttp11 = 11;
constexpr const char* kUserAgent = "otaswarm";

struct Exchange {
  bhttp::verb method;
  const Url& url;
  uint16_t port;
  const Headers& headers;
  std::string body;
  size_t body_limit;
  ClientError::Kind step = ClientError::Kind::resolve;  // what the coroutine is doing now
  ClientReply reply;
};

asio::awaitable<void> run(Exchange& x) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  x.step = ClientError::Kind::resolve;
  auto endpoints = co_await resolver.async_resolve(x.url.host, std::to_string(x.port), asio::use_awaitable);
  beast::tcp_stream stream(ex);
  x.step = ClientError::Kind::connect;
  co_await stream.async_connect(endpoints, asio::use_awaitable);

  bhttp::request<bhttp::string_body> req{x.method, x.url.target, kHttp11};
  bool v6 = x.url.host.find(':') != std::string::npos;
  req.set(bhttp::field::host, (v6 ? "[" + x.url.host + "]" : x.url.host) + ":" + std::to_string(x.port));
  req.set(bhttp::field::user_agent, kUserAgent);
  for (const auto& [name, value] : x.headers) req.set(name, value);
  req.body() = std::move(x.body);
  req.prepare_payload();
  x.step = ClientError::Kind::io;
  co_await bhttp::async_write(stream, req, asio::use_awaitable);

  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(x.body_limit);
  // The header first: with Boost 1.74, one async_read of a whole reply let a body over the
  // limit through (tests/common/http/client_test.cpp, RefusesABodyOverTheLimit).
  co_await bhttp::async_read_header(stream, buf, parser, asio::use_awaitable);
  co_await bhttp::async_read(stream, buf, parser, asio::use_awaitable);
  auto res = parser.release();
  x.reply.status = res.result_int();
  x.reply.reason = std::string(res.reason());
  for (const auto& f : res) x.reply.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  x.reply.body = std::move(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

bool is_parse_error(const beast::error_code& ec) { return ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category(); }

}  // namespace

std::optional<std::string> ClientReply::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n.size() == name.size() && ::strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
  return std::nullopt;
}

ClientReply request(bhttp::verb method, const Url& url, const Headers& headers, std::string body,
                    const ClientOptions& options) {
  Exchange x{method, url, url.port == 0 ? kDefaultHttpPort : url.port, headers, std::move(body), options.body_limit};
  asio::io_context ioc;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(ioc, run(x), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  ioc.run_for(options.timeout);
  if (!done)
    throw ClientError(ClientError::Kind::timeout, "no reply within " + std::to_string(options.timeout.count()) + " ms");
  if (!error) return std::move(x.reply);
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    if (e.code() == bhttp::error::body_limit)
      throw ClientError(ClientError::Kind::body_too_large,
                        "response body larger than " + std::to_string(options.body_limit) + " bytes");
    if (x.step == ClientError::Kind::io && is_parse_error(e.code()) && e.code() != bhttp::error::end_of_stream &&
        e.code() != bhttp::error::partial_message)
      throw ClientError(ClientError::Kind::protocol, "malformed HTTP reply: " + e.code().message());
    throw ClientError(x.step, e.code().message());
  } catch (const std::exception& e) {
    throw ClientError(x.step, e.what());
  }
}

}  // namespace otaswarm::http
