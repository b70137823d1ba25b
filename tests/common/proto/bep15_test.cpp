#include "common/proto/bep15.h"

#include <gtest/gtest.h>

#include <span>
#include <string>

#include "common/proto/bep15_client.h"
#include "tests/support/bep15_requests.h"

namespace otaswarm::udp {
namespace {

Hash20 hash_of(uint8_t b) {
  Hash20 h{};
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(b + i);
  return h;
}

AnnounceRequest sample_announce() {
  AnnounceRequest a;
  a.connection_id = 0x0102030405060708ULL;
  a.transaction_id = 0xdeadbeef;
  a.info_hash = hash_of(0x10);
  a.peer_id = hash_of(0x80);
  a.downloaded = 1ULL << 40;
  a.left = 123456789;
  a.uploaded = 42;
  a.event = 2;
  a.ip = 0xc0000201;
  a.key = 0x55aa55aa;
  a.num_want = -1;
  a.port = 51413;
  return a;
}

uint32_t be32(const std::string& s, size_t off) {
  auto* p = reinterpret_cast<const uint8_t*>(s.data() + off);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

TEST(UdpProtocol, ConnectRoundTrip) {
  std::string req = build_connect_request(0x11223344);
  ASSERT_EQ(req.size(), kConnectSize);
  auto pk = parse(req);
  EXPECT_EQ(pk.error, ParseError::ok);
  EXPECT_EQ(pk.action, Action::connect);
  EXPECT_EQ(pk.transaction_id, 0x11223344u);
  EXPECT_EQ(pk.connect.transaction_id, 0x11223344u);
}

TEST(UdpProtocol, ConnectWithoutMagicIsRejected) {
  std::string req = build_connect_request(7);
  req[0] ^= 1;
  auto pk = parse(req);
  EXPECT_EQ(pk.error, ParseError::bad_protocol_id);
  EXPECT_EQ(pk.transaction_id, 7u);
}

TEST(UdpProtocol, ShortDatagramsAreTruncated) {
  std::string req = build_connect_request(7);
  for (size_t n = 0; n < 16; ++n) EXPECT_EQ(parse(req.substr(0, n)).error, ParseError::truncated) << n;
}

TEST(UdpProtocol, AnnounceRoundTrip) {
  auto a = sample_announce();
  std::string wire = build_announce_request(a);
  ASSERT_EQ(wire.size(), kAnnounceMinSize);
  auto pk = parse(wire);
  ASSERT_EQ(pk.error, ParseError::ok);
  ASSERT_EQ(pk.action, Action::announce);
  const auto& b = pk.announce;
  EXPECT_EQ(b.connection_id, a.connection_id);
  EXPECT_EQ(b.transaction_id, a.transaction_id);
  EXPECT_EQ(b.info_hash, a.info_hash);
  EXPECT_EQ(b.peer_id, a.peer_id);
  EXPECT_EQ(b.downloaded, a.downloaded);
  EXPECT_EQ(b.left, a.left);
  EXPECT_EQ(b.uploaded, a.uploaded);
  EXPECT_EQ(b.event, a.event);
  EXPECT_EQ(b.ip, a.ip);
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(b.num_want, -1);
  EXPECT_EQ(b.port, a.port);
  EXPECT_TRUE(b.url_data.empty());
}

TEST(UdpProtocol, AnnounceUrlDataSpansSeveralOptions) {
  auto a = sample_announce();
  a.url_data = "/announce/" + std::string(600, 't') + "?lan=abc";
  std::string wire = build_announce_request(a);
  auto pk = parse(wire);
  ASSERT_EQ(pk.error, ParseError::ok);
  EXPECT_EQ(pk.announce.url_data, a.url_data);
}

TEST(UdpProtocol, Bep41OptionsNopEndAndUnknown) {
  std::string wire = build_announce_request(sample_announce());
  wire += '\x01';                        // NOP
  wire += std::string("\x02\x04/ann", 6);  // URLData
  wire += std::string("\x07\x02zz", 4);    // unknown option with a length: skipped
  wire += std::string("\x02\x05ounce", 7);
  wire += '\x00';                        // end of options
  wire += "garbage after the end";
  auto pk = parse(wire);
  ASSERT_EQ(pk.error, ParseError::ok);
  EXPECT_EQ(pk.announce.url_data, "/announce");
}

TEST(UdpProtocol, Bep41MalformedOptions) {
  std::string base = build_announce_request(sample_announce());
  EXPECT_EQ(parse(base + '\x02').error, ParseError::bad_options);                       // no length byte
  EXPECT_EQ(parse(base + std::string("\x02\x05" "abc", 5)).error, ParseError::bad_options);  // runs past the end
  EXPECT_EQ(parse(base + std::string("\x09\xff", 2)).error, ParseError::bad_options);
  std::string big = base;
  for (int i = 0; i < 5; ++i) big += std::string("\x02\xff", 2) + std::string(255, 'u');
  auto pk = parse(big);
  EXPECT_EQ(pk.error, ParseError::bad_options);  // more URL data than kMaxUrlData
  EXPECT_EQ(pk.transaction_id, 0xdeadbeefu);
}

TEST(UdpProtocol, UrlDataAtTheLimitIsAccepted) {
  auto a = sample_announce();
  a.url_data = std::string(kMaxUrlData, 'q');
  auto pk = parse(build_announce_request(a));
  ASSERT_EQ(pk.error, ParseError::ok);
  EXPECT_EQ(pk.announce.url_data.size(), kMaxUrlData);
}

TEST(UdpProtocol, TruncatedAnnounceKeepsTransactionId) {
  std::string wire = build_announce_request(sample_announce());
  for (size_t n = 16; n < kAnnounceMinSize; ++n) {
    auto pk = parse(wire.substr(0, n));
    EXPECT_EQ(pk.error, ParseError::truncated) << n;
    EXPECT_EQ(pk.action, Action::announce);
    EXPECT_EQ(pk.transaction_id, 0xdeadbeefu);
  }
}

TEST(UdpProtocol, ScrapeRoundTrip) {
  std::vector<Hash20> hashes;
  for (uint8_t i = 0; i < kMaxScrapeHashes; ++i) hashes.push_back(hash_of(i));
  auto pk = parse(build_scrape_request(99, 5, hashes));
  ASSERT_EQ(pk.error, ParseError::ok);
  ASSERT_EQ(pk.action, Action::scrape);
  EXPECT_EQ(pk.scrape.connection_id, 99u);
  EXPECT_EQ(pk.scrape.transaction_id, 5u);
  EXPECT_EQ(pk.scrape.info_hashes, hashes);
}

TEST(UdpProtocol, MalformedScrapes) {
  EXPECT_EQ(parse(build_scrape_request(1, 2, {})).error, ParseError::truncated);
  std::string partial = build_scrape_request(1, 2, {}) + std::string(19, 'x');
  EXPECT_EQ(parse(partial).error, ParseError::truncated);
  std::vector<Hash20> too_many(kMaxScrapeHashes + 1, hash_of(1));
  EXPECT_EQ(parse(build_scrape_request(1, 2, too_many)).error, ParseError::too_many_hashes);
  // A trailing partial hash is ignored; the whole ones are read.
  auto pk = parse(build_scrape_request(1, 2, {hash_of(3)}) + "xyz");
  ASSERT_EQ(pk.error, ParseError::ok);
  ASSERT_EQ(pk.scrape.info_hashes.size(), 1u);
  EXPECT_EQ(pk.scrape.info_hashes[0], hash_of(3));
}

TEST(UdpProtocol, UnknownActions) {
  for (uint8_t action : {3, 4, 255}) {
    std::string wire = build_connect_request(9);
    wire[11] = static_cast<char>(action);
    auto pk = parse(wire);
    EXPECT_EQ(pk.error, ParseError::unknown_action) << int(action);
    EXPECT_EQ(pk.transaction_id, 9u);
  }
}

TEST(UdpProtocol, ConnectReplyLayout) {
  std::string r = build_connect(0xa1b2c3d4, 0x1122334455667788ULL);
  ASSERT_EQ(r.size(), 16u);
  EXPECT_EQ(be32(r, 0), 0u);
  EXPECT_EQ(be32(r, 4), 0xa1b2c3d4u);
  EXPECT_EQ(be32(r, 8), 0x11223344u);
  EXPECT_EQ(be32(r, 12), 0x55667788u);
}

TEST(UdpProtocol, AnnounceReplyLayouts) {
  std::string r = "stale";
  build_announce_v4(r, 7, 1800, 3, 4, {{{10, 0, 0, 1}, 6881}, {{192, 168, 1, 2}, 1}});
  ASSERT_EQ(r.size(), 20u + 12u);
  EXPECT_EQ(be32(r, 0), 1u);
  EXPECT_EQ(be32(r, 4), 7u);
  EXPECT_EQ(be32(r, 8), 1800u);
  EXPECT_EQ(be32(r, 12), 3u);
  EXPECT_EQ(be32(r, 16), 4u);
  EXPECT_EQ(r.substr(20, 6), std::string("\x0a\x00\x00\x01\x1a\xe1", 6));
  EXPECT_EQ(r.substr(26, 6), std::string("\xc0\xa8\x01\x02\x00\x01", 6));

  PeerV6 p6{};
  p6.ip[0] = 0x20;
  p6.ip[15] = 1;
  p6.port = 443;
  build_announce_v6(r, 8, 60, 0, 1, {p6});
  ASSERT_EQ(r.size(), 20u + 18u);
  EXPECT_EQ(be32(r, 4), 8u);
  EXPECT_EQ(static_cast<uint8_t>(r[20]), 0x20);
  EXPECT_EQ(static_cast<uint8_t>(r[35]), 1);
  EXPECT_EQ(r.substr(36, 2), std::string("\x01\xbb", 2));
}

TEST(UdpProtocol, ScrapeAndErrorReplies) {
  std::string r = build_scrape(3, {{1, 2, 3}, {4, 5, 6}});
  ASSERT_EQ(r.size(), 8u + 24u);
  EXPECT_EQ(be32(r, 0), 2u);
  EXPECT_EQ(be32(r, 4), 3u);
  EXPECT_EQ(be32(r, 8), 1u);   // seeders
  EXPECT_EQ(be32(r, 12), 2u);  // completed
  EXPECT_EQ(be32(r, 16), 3u);  // leechers
  EXPECT_EQ(be32(r, 28), 6u);
  std::string e = build_error(9, "nope");
  EXPECT_EQ(be32(e, 0), 3u);
  EXPECT_EQ(be32(e, 4), 9u);
  EXPECT_EQ(e.substr(8), "nope");
}

TEST(UdpProtocol, ErrorNames) {
  for (int e = 0; e <= static_cast<int>(ParseError::too_many_hashes); ++e)
    EXPECT_STRNE(to_string(static_cast<ParseError>(e)), "unknown");
}

// Round trip: the client half's requests read by the server half, the server half's replies
// read by the client half, for every message type.
namespace client = loadtest::bep15;

std::string_view as_text(std::span<const uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Bep15RoundTrip, Connect) {
  std::array<uint8_t, client::kConnectRequestSize> req{};
  ASSERT_EQ(client::build_connect(0x01020304, req), req.size());
  auto pk = parse(as_text(req));
  ASSERT_EQ(pk.error, ParseError::ok);
  EXPECT_EQ(pk.action, Action::connect);
  EXPECT_EQ(pk.connect.transaction_id, 0x01020304u);

  client::Reply r;
  ASSERT_EQ(client::parse_reply(as_bytes(build_connect(0x01020304, 0x1122334455667788ULL)), false, r),
            client::ReplyError::ok);
  EXPECT_EQ(r.action, client::connect);
  EXPECT_EQ(r.transaction_id, 0x01020304u);
  EXPECT_EQ(r.connection_id, 0x1122334455667788ULL);
}

TEST(Bep15RoundTrip, AnnounceWithUrlData) {
  client::AnnounceRequest a;
  a.connection_id = 0x0102030405060708ULL;
  a.transaction_id = 77;
  a.info_hash = hash_of(0x10);
  a.peer_id = hash_of(0x40);
  a.downloaded = 1;
  a.left = 2;
  a.uploaded = 3;
  a.event = client::started;
  a.key = 9;
  a.num_want = 50;
  a.port = 6881;
  std::string path = "/announce/" + std::string(600, 't') + "?lan=abc&nat=xyz";  // several BEP 41 options
  a.url_data = path;
  std::array<uint8_t, client::kMaxAnnounceRequest> buf{};
  size_t n = client::build_announce(a, buf);
  ASSERT_GT(n, 0u);
  auto pk = parse(as_text(std::span<const uint8_t>(buf.data(), n)));
  ASSERT_EQ(pk.error, ParseError::ok);
  ASSERT_EQ(pk.action, Action::announce);
  const auto& s = pk.announce;
  EXPECT_EQ(s.connection_id, a.connection_id);
  EXPECT_EQ(s.transaction_id, 77u);
  EXPECT_EQ(s.info_hash, a.info_hash);
  EXPECT_EQ(s.peer_id, a.peer_id);
  EXPECT_EQ(s.downloaded, 1u);
  EXPECT_EQ(s.left, 2u);
  EXPECT_EQ(s.uploaded, 3u);
  EXPECT_EQ(s.event, 2u);
  EXPECT_EQ(s.ip, 0u);
  EXPECT_EQ(s.key, 9u);
  EXPECT_EQ(s.num_want, 50);
  EXPECT_EQ(s.port, 6881);
  EXPECT_EQ(s.url_data, path);
}

TEST(Bep15RoundTrip, AnnounceRepliesIpv4AndIpv6) {
  std::string v4;
  build_announce_v4(v4, 5, 1800, 3, 4, {PeerV4{{10, 0, 0, 1}, 6881}, PeerV4{{10, 0, 0, 2}, 6882}});
  client::Reply r;
  ASSERT_EQ(client::parse_reply(as_bytes(v4), false, r), client::ReplyError::ok);
  EXPECT_EQ(r.action, client::announce);
  EXPECT_EQ(r.transaction_id, 5u);
  EXPECT_EQ(r.interval, 1800u);
  EXPECT_EQ(r.leechers, 3u);
  EXPECT_EQ(r.seeders, 4u);
  EXPECT_EQ(r.peers, 2u);
  EXPECT_EQ(as_bytes(v4).subspan(client::kAnnounceReplyHeader, 6)[3], 1);

  std::string v6;
  PeerV6 p{};
  p.ip[0] = 0x20;
  p.ip[15] = 1;
  p.port = 6881;
  build_announce_v6(v6, 6, 900, 1, 2, {p, p, p});
  client::Reply r6;
  ASSERT_EQ(client::parse_reply(as_bytes(v6), true, r6), client::ReplyError::ok);
  EXPECT_EQ(r6.transaction_id, 6u);
  EXPECT_EQ(r6.interval, 900u);
  EXPECT_EQ(r6.peers, 3u);
  EXPECT_EQ(as_bytes(v6)[client::kAnnounceReplyHeader], 0x20);
  EXPECT_EQ(as_bytes(v6)[client::kAnnounceReplyHeader + 15], 1);
  // Two IPv4 entries (12 bytes) are not whole IPv6 entries.
  EXPECT_EQ(client::parse_reply(as_bytes(v4), true, r), client::ReplyError::bad_length);
}

TEST(Bep15RoundTrip, Scrape) {
  std::vector<std::array<uint8_t, 20>> hashes = {hash_of(1), hash_of(2), hash_of(3)};
  std::array<uint8_t, client::kMaxScrapeRequest> buf{};
  size_t n = client::build_scrape(0xabcdef, 8, hashes, buf);
  ASSERT_GT(n, 0u);
  auto pk = parse(as_text(std::span<const uint8_t>(buf.data(), n)));
  ASSERT_EQ(pk.error, ParseError::ok);
  ASSERT_EQ(pk.action, Action::scrape);
  EXPECT_EQ(pk.scrape.connection_id, 0xabcdefu);
  EXPECT_EQ(pk.scrape.transaction_id, 8u);
  EXPECT_EQ(pk.scrape.info_hashes, hashes);
  std::vector<std::array<uint8_t, 20>> too_many(kMaxScrapeHashes + 1);
  EXPECT_EQ(client::build_scrape(1, 1, too_many, buf), 0u);

  client::Reply r;
  ASSERT_EQ(client::parse_reply(as_bytes(build_scrape(8, {{1, 2, 3}, {4, 5, 6}})), false, r), client::ReplyError::ok);
  EXPECT_EQ(r.action, client::scrape);
  EXPECT_EQ(r.transaction_id, 8u);
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].seeders, 1u);
  EXPECT_EQ(r.files[0].completed, 2u);
  EXPECT_EQ(r.files[0].leechers, 3u);
  EXPECT_EQ(r.files[1].leechers, 6u);
}

TEST(Bep15RoundTrip, Error) {
  client::Reply r;
  ASSERT_EQ(client::parse_reply(as_bytes(build_error(9, "tracker busy: retry in 5 s")), false, r),
            client::ReplyError::ok);
  EXPECT_EQ(r.action, client::error);
  EXPECT_EQ(r.transaction_id, 9u);
  EXPECT_EQ(r.message, "tracker busy: retry in 5 s");
}

TEST(Bep15RoundTrip, OneProtocolId) {
  static_assert(client::kProtocolId == kProtocolId);
  std::array<uint8_t, client::kConnectRequestSize> req{};
  client::build_connect(1, req);
  req[7] ^= 1;  // any other magic is refused
  EXPECT_EQ(parse(as_text(req)).error, ParseError::bad_protocol_id);
}

}  // namespace
}  // namespace otaswarm::udp
