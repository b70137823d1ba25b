#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "common/proto/bencode.h"
#include "common/proto/bep15_client.h"
#include "tracker/announce.h"

namespace otaswarm {
namespace {

std::string percent_all(std::string_view bytes) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out += '%';
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string hash_bytes(uint8_t first) {
  std::string h(20, '\0');
  for (size_t i = 0; i < 20; ++i) h[i] = static_cast<char>(first + i * 13);
  return h;
}

std::string base_query(const std::string& info_hash = percent_all(hash_bytes(0xf0))) {
  return "info_hash=" + info_hash + "&peer_id=-qB4630-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=3";
}

TEST(AnnounceQuery, ParsesStandardParameters) {
  AnnounceRequest r;
  auto err = parse_announce_query(base_query() + "&event=started&numwant=30&compact=1&no_peer_id=1&key=abc", r);
  ASSERT_FALSE(err) << *err;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r.info_hash.data()), 20), hash_bytes(0xf0));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r.peer_id.data()), 20), "-qB4630-abcdefghijkl");
  EXPECT_EQ(r.port, 6881);
  EXPECT_EQ(r.uploaded, 1u);
  EXPECT_EQ(r.downloaded, 2u);
  EXPECT_EQ(r.left, 3u);
  EXPECT_EQ(r.event, store::Event::started);
  EXPECT_EQ(r.numwant, 30);
  EXPECT_TRUE(r.compact);
  EXPECT_TRUE(r.no_peer_id);
}

TEST(AnnounceQuery, BinaryInfoHashMixedEncoding) {
  // Clients escape only what they must: unreserved bytes arrive literally.
  std::string raw = "AZaz09-._~" + std::string("\x00\xff\x20\x25\x26\x2b\x3d\x80\x7f\x01", 10);
  std::string enc = "AZaz09-._~%00%ff%20%25%26%2B%3d%80%7F%01";
  AnnounceRequest r;
  auto err = parse_announce_query(base_query(enc), r);
  ASSERT_FALSE(err) << *err;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r.info_hash.data()), 20), raw);
}

TEST(AnnounceQuery, EveryByteValueSurvives) {
  for (int b = 0; b < 256; ++b) {
    std::string raw(20, static_cast<char>(b));
    AnnounceRequest r;
    ASSERT_FALSE(parse_announce_query(base_query(percent_all(raw)), r)) << b;
    EXPECT_EQ(std::string(reinterpret_cast<char*>(r.info_hash.data()), 20), raw) << b;
  }
}

TEST(AnnounceQuery, Extensions) {
  AnnounceRequest r;
  ASSERT_FALSE(parse_announce_query(
      base_query() + "&localip=192.168.1.4&lan=ab%2Bcd&icode=isp1&nat=tkt&ip=10.0.0.2&ipv4=1.2.3.4&ipv6=%3A%3A1", r));
  EXPECT_EQ(r.localip, "192.168.1.4");
  EXPECT_EQ(r.lan, "ab+cd");
  EXPECT_EQ(r.icode, "isp1");
  EXPECT_EQ(r.nat, "tkt");
  EXPECT_EQ(r.ip_param, "10.0.0.2");
  EXPECT_EQ(r.ipv4_param, "1.2.3.4");
  EXPECT_EQ(r.ipv6_param, "::1");
}

TEST(AnnounceQuery, EventsAndDefaults) {
  auto event_of = [](const std::string& ev) {
    AnnounceRequest r;
    EXPECT_FALSE(parse_announce_query(base_query() + "&event=" + ev, r)) << ev;
    return r.event;
  };
  EXPECT_EQ(event_of("completed"), store::Event::completed);
  EXPECT_EQ(event_of("stopped"), store::Event::stopped);
  EXPECT_EQ(event_of("paused"), store::Event::paused);
  EXPECT_EQ(event_of("empty"), store::Event::none);
  EXPECT_EQ(event_of(""), store::Event::none);
  AnnounceRequest r;
  ASSERT_FALSE(parse_announce_query(base_query() + "&compact=0&num_want=5", r));
  EXPECT_FALSE(r.compact);
  EXPECT_EQ(r.numwant, 5);
  AnnounceRequest d;
  ASSERT_FALSE(parse_announce_query(base_query(), d));
  EXPECT_EQ(d.numwant, -1);
  EXPECT_TRUE(d.compact);
  EXPECT_EQ(d.event, store::Event::none);
}

TEST(AnnounceQuery, HugeNumwantIsClamped) {
  AnnounceRequest r;
  ASSERT_FALSE(parse_announce_query(base_query() + "&numwant=4294967295", r));
  EXPECT_GT(r.numwant, 0);
}

TEST(AnnounceQuery, PortZeroOnlyForStopped) {
  std::string q = "info_hash=" + percent_all(hash_bytes(1)) + "&peer_id=-qB4630-abcdefghijkl&port=0&left=0";
  AnnounceRequest r;
  EXPECT_TRUE(parse_announce_query(q, r));
  AnnounceRequest s;
  EXPECT_FALSE(parse_announce_query(q + "&event=stopped", s));
}

TEST(AnnounceQuery, BadInputs) {
  std::string h = percent_all(hash_bytes(1));
  std::string pid = "&peer_id=-qB4630-abcdefghijkl";
  std::vector<std::string> bad = {
      "",
      "peer_id=-qB4630-abcdefghijkl&port=1&left=0",                         // no info_hash
      "info_hash=" + h + "&port=1&left=0",                                  // no peer_id
      "info_hash=" + h + pid + "&left=0",                                   // no port
      "info_hash=" + h + pid + "&port=1",                                   // no left
      "info_hash=" + h.substr(3) + pid + "&port=1&left=0",                  // 19 bytes
      "info_hash=" + h + "%41" + pid + "&port=1&left=0",                    // 21 bytes
      "info_hash=" + h + "&peer_id=short&port=1&left=0",
      base_query() + "&port=65536",
      base_query() + "&port=-1",
      base_query() + "&port=1x",
      base_query() + "&left=-5",
      base_query() + "&uploaded=99999999999999999999999",
      base_query() + "&downloaded=",
      base_query() + "&event=finished",
      base_query() + "&numwant=-1",
      base_query() + "&lan=%zz",
      base_query() + "&lan=%4",
      base_query() + "&lan=%",
      base_query() + "&nat=" + std::string(513, 'n'),
  };
  for (const auto& q : bad) {
    AnnounceRequest r;
    EXPECT_TRUE(parse_announce_query(q, r)) << q;
  }
}

TEST(AnnounceQuery, TooManyParameters) {
  std::string q = base_query();
  for (int i = 0; i < 64; ++i) q += "&x" + std::to_string(i) + "=1";
  AnnounceRequest r;
  auto err = parse_announce_query(q, r);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "too many query parameters");
}

TEST(AnnounceQuery, EmptyPairsAndUnknownKeysAreIgnored) {
  AnnounceRequest r;
  EXPECT_FALSE(parse_announce_query("&&" + base_query() + "&&supportcrypto=1&flag&", r));
}

TEST(ScrapeQuery, SeveralHashes) {
  ScrapeRequest r;
  ASSERT_FALSE(parse_scrape_query("info_hash=" + percent_all(hash_bytes(1)) + "&info_hash=" +
                                      percent_all(hash_bytes(2)) + "&other=1",
                                  r));
  ASSERT_EQ(r.info_hashes.size(), 2u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r.info_hashes[1].data()), 20), hash_bytes(2));
  ScrapeRequest all;
  EXPECT_FALSE(parse_scrape_query("", all));
  EXPECT_TRUE(all.info_hashes.empty());
}

TEST(ScrapeQuery, BadInputs) {
  ScrapeRequest r;
  EXPECT_TRUE(parse_scrape_query("info_hash=abc", r));
  ScrapeRequest p;
  EXPECT_TRUE(parse_scrape_query("info_hash=%GG", p));
  std::string q;
  for (int i = 0; i < 75; ++i) q += "info_hash=" + percent_all(hash_bytes(static_cast<uint8_t>(i))) + "&";
  ScrapeRequest many;
  EXPECT_TRUE(parse_scrape_query(q, many));
}

TEST(TokenFromPath, Forms) {
  std::string t = "stale";
  EXPECT_TRUE(token_from_path("/announce", "announce", t));
  EXPECT_EQ(t, "");
  EXPECT_TRUE(token_from_path("/announce/v1.abc.1.xyz", "announce", t));
  EXPECT_EQ(t, "v1.abc.1.xyz");
  EXPECT_TRUE(token_from_path("/v1.abc.1.xyz/announce", "announce", t));
  EXPECT_EQ(t, "v1.abc.1.xyz");
  EXPECT_TRUE(token_from_path("/scrape/tok", "scrape", t));
  EXPECT_EQ(t, "tok");
  EXPECT_TRUE(token_from_path("/tok/scrape", "scrape", t));
  EXPECT_EQ(t, "tok");
}

TEST(TokenFromPath, Rejects) {
  std::string t;
  for (const char* p : {"/", "", "/scrape/tok", "/announce/a/b", "/a/b/announce", "/xannounce", "/announcex",
                        "announce", "/tok/announcex", "//announce/x/"})
    EXPECT_FALSE(token_from_path(p, "announce", t)) << p;
}

store::SelectedPeer sel(std::initializer_list<uint8_t> ip, uint16_t port, uint8_t id) {
  store::SelectedPeer p;
  p.ip.v6 = ip.size() == 16;
  std::copy(ip.begin(), ip.end(), p.ip.b.begin());
  p.port = port;
  p.peer_id.fill(id);
  return p;
}

AnnounceResponse sample_response() {
  AnnounceResponse res;
  res.interval = 1800;
  res.min_interval = 900;
  res.complete = 2;
  res.incomplete = 5;
  res.downloaded = 7;
  res.peers.push_back(sel({10, 0, 0, 1}, 6881, 'a'));
  res.peers.push_back(sel({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, 443, 'b'));
  res.peers.push_back(sel({192, 0, 2, 200}, 1, 'c'));
  return res;
}

TEST(EncodeAnnounce, CompactWithPeers6) {
  AnnounceRequest req;
  req.compact = true;
  auto d = bencode::decode(encode_announce(req, sample_response()));
  ASSERT_TRUE(d) << bencode::to_string(d.error);  // strict: keys sorted, canonical
  EXPECT_EQ(d.value.find("interval")->as_int(), 1800);
  EXPECT_EQ(d.value.find("min interval")->as_int(), 900);
  EXPECT_EQ(d.value.find("complete")->as_int(), 2);
  EXPECT_EQ(d.value.find("incomplete")->as_int(), 5);
  EXPECT_EQ(d.value.find("downloaded")->as_int(), 7);
  EXPECT_EQ(d.value.find("peers")->as_string(), std::string("\x0a\x00\x00\x01\x1a\xe1\xc0\x00\x02\xc8\x00\x01", 12));
  std::string v6 = d.value.find("peers6")->as_string();
  ASSERT_EQ(v6.size(), 18u);
  EXPECT_EQ(v6.substr(0, 4), "\x20\x01\x0d\xb8");
  EXPECT_EQ(v6.substr(15), std::string("\x09\x01\xbb", 3));
  EXPECT_EQ(d.value.find("failure reason"), nullptr);
}

TEST(EncodeAnnounce, CompactWithoutV6PeersHasNoPeers6) {
  AnnounceRequest req;
  AnnounceResponse res;
  res.interval = 60;
  auto d = bencode::decode(encode_announce(req, res));
  ASSERT_TRUE(d);
  EXPECT_EQ(d.value.find("peers")->as_string(), "");
  EXPECT_EQ(d.value.find("peers6"), nullptr);
}

TEST(EncodeAnnounce, NonCompactDictionaries) {
  AnnounceRequest req;
  req.compact = false;
  auto res = sample_response();
  res.warning = "be nice";
  auto d = bencode::decode(encode_announce(req, res));
  ASSERT_TRUE(d) << bencode::to_string(d.error);
  const auto& peers = d.value.find("peers")->as_list();
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0].find("ip")->as_string(), "10.0.0.1");
  EXPECT_EQ(peers[0].find("port")->as_int(), 6881);
  EXPECT_EQ(peers[0].find("peer id")->as_string(), std::string(20, 'a'));
  EXPECT_EQ(peers[1].find("ip")->as_string(), "2001:db8::9");
  EXPECT_EQ(d.value.find("warning message")->as_string(), "be nice");

  req.no_peer_id = true;
  d = bencode::decode(encode_announce(req, res));
  ASSERT_TRUE(d);
  EXPECT_EQ(d.value.find("peers")->as_list()[0].find("peer id"), nullptr);
}

TEST(EncodeAnnounce, Failure) {
  AnnounceRequest req;
  AnnounceResponse res = sample_response();
  res.failure = "unregistered info_hash";
  auto d = bencode::decode(encode_announce(req, res));
  ASSERT_TRUE(d);
  EXPECT_EQ(d.value.find("failure reason")->as_string(), "unregistered info_hash");
  EXPECT_EQ(d.value.find("peers"), nullptr);
  d = bencode::decode(encode_failure("busy", 30));
  ASSERT_TRUE(d);
  EXPECT_EQ(d.value.find("retry in")->as_int(), 30);
}

TEST(EncodeScrape, KnownFilesSortedByBinaryHash) {
  ScrapeResponse res;
  auto entry = [](uint8_t first, bool known, uint32_t seeders) {
    ScrapeEntry e;
    e.info_hash.fill(first);
    e.known = known;
    e.complete = seeders;
    e.incomplete = 1;
    e.downloaded = 9;
    return e;
  };
  res.files = {entry(0xff, true, 1), entry(0x01, true, 2), entry(0x80, false, 3), entry(0x7f, true, 4)};
  auto d = bencode::decode(encode_scrape(res));
  ASSERT_TRUE(d) << bencode::to_string(d.error);  // strict decode checks the key order
  const auto& files = d.value.find("files")->as_dict();
  ASSERT_EQ(files.size(), 3u);
  const auto* f = d.value.find("files")->find(std::string(20, '\xff'));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->find("complete")->as_int(), 1);
  EXPECT_EQ(f->find("incomplete")->as_int(), 1);
  EXPECT_EQ(f->find("downloaded")->as_int(), 9);
  EXPECT_EQ(d.value.find("files")->find(std::string(20, '\x80')), nullptr);

  ScrapeResponse fail;
  fail.failure = "nope";
  EXPECT_EQ(bencode::decode(encode_scrape(fail)).value.find("failure reason")->as_string(), "nope");
}

TEST(EncodeScrape, RepeatedHashIsReportedOnce) {
  // Found by fuzz_announce_query: "info_hash=X&info_hash=X" produced a dict with a repeated key.
  ScrapeRequest req;
  std::string h = "info_hash=" + percent_all(hash_bytes(5));
  ASSERT_FALSE(parse_scrape_query(h + "&" + h, req));
  ScrapeResponse res;
  for (const auto& ih : req.info_hashes) {
    ScrapeEntry e;
    e.info_hash = ih;
    e.complete = 1;
    res.files.push_back(e);
  }
  auto d = bencode::decode(encode_scrape(res));
  ASSERT_TRUE(d) << bencode::to_string(d.error);
  EXPECT_EQ(d.value.find("files")->as_dict().size(), 1u);
}

// A BEP 15 announce as a client sends it (the client half of the codec), read by the server half.
udp::AnnounceRequest bep15_announce(uint32_t event, uint16_t port, std::string_view url_data, uint32_t ip = 0) {
  loadtest::bep15::AnnounceRequest a;
  a.connection_id = 1;
  a.transaction_id = 2;
  a.info_hash.fill(0xAB);
  a.peer_id.fill('p');
  a.left = 500;
  a.downloaded = 7;
  a.uploaded = 9;
  a.event = event;
  a.port = port;
  a.num_want = 30;
  a.url_data = url_data;
  std::array<uint8_t, loadtest::bep15::kMaxAnnounceRequest> buf{};
  size_t n = loadtest::bep15::build_announce(a, buf);
  std::string wire(reinterpret_cast<const char*>(buf.data()), n);
  if (ip) std::memcpy(wire.data() + 84, &ip, 4);  // the IP field, as a client behind a proxy fills it
  auto pk = udp::parse(wire);
  EXPECT_EQ(pk.error, udp::ParseError::ok);
  return pk.announce;
}

TEST(Bep15Announce, MapsThePacketAndTheUrlDataParameters) {
  AnnounceRequest req;
  std::string_view error;
  auto src = *net::parse_address("198.51.100.7");
  ASSERT_EQ(request_from_bep15(bep15_announce(2, 6881, "/announce/TOK?localip=192.168.1.5&lan=abc&nat=T1&icode=i1.x"),
                               src, req, error),
            Reject::none)
      << error;
  EXPECT_EQ(req.protocol, Protocol::udp);
  EXPECT_EQ(req.source, src);
  EXPECT_EQ(req.event, store::Event::started);
  EXPECT_EQ(req.port, 6881);
  EXPECT_EQ(req.left, 500u);
  EXPECT_EQ(req.downloaded, 7u);
  EXPECT_EQ(req.uploaded, 9u);
  EXPECT_EQ(req.numwant, 30);
  EXPECT_EQ(req.token, "TOK");
  EXPECT_EQ(req.localip, "192.168.1.5");
  EXPECT_EQ(req.lan, "abc");
  EXPECT_EQ(req.nat, "T1");
  EXPECT_EQ(req.icode, "i1.x");
  EXPECT_EQ(req.info_hash[0], 0xAB);
}

TEST(Bep15Announce, IpFieldAndIpParameter) {
  AnnounceRequest req;
  std::string_view error;
  uint32_t ip = htonl(0x0A000005);  // 10.0.0.5
  ASSERT_EQ(request_from_bep15(bep15_announce(0, 1, "/announce/T?ip=192.168.0.9", ip), *net::parse_address("::1"), req,
                               error),
            Reject::none);
  EXPECT_EQ(req.ip_param, "10.0.0.5");
  EXPECT_EQ(req.localip, "192.168.0.9");  // BEP 3 `ip` in the URL data stands in for localip
}

TEST(Bep15Announce, RefusalsNameTheReason) {
  auto src = *net::parse_address("198.51.100.7");
  struct Case {
    uint32_t event;
    uint16_t port;
    const char* url;
    Reject reason;
    const char* message;
  } cases[] = {
      {4, 6881, "/announce/T", Reject::bad_request, "unknown event"},
      {2, 0, "/announce/T", Reject::bad_request, "port must not be 0"},
      {2, 6881, "/scrape/T", Reject::malformed_token, "announce URL path must be /announce/<device-token>"},
  };
  for (const auto& c : cases) {
    AnnounceRequest req;
    std::string_view error;
    EXPECT_EQ(request_from_bep15(bep15_announce(c.event, c.port, c.url), src, req, error), c.reason) << c.url;
    EXPECT_EQ(error, c.message);
  }
  AnnounceRequest stopped;
  std::string_view error;
  EXPECT_EQ(request_from_bep15(bep15_announce(3, 0, "/announce/T"), src, stopped, error), Reject::none)
      << "a stopped announce may carry port 0";
}

TEST(Bep15Announce, ReplyCarriesOnlyTheRequestersAddressFamily) {
  AnnounceResponse res;
  res.interval = 1800;
  res.complete = 3;
  res.incomplete = 4;
  store::SelectedPeer v4;
  v4.ip.b = {192, 0, 2, 1};
  v4.port = 6881;
  store::SelectedPeer v6;
  v6.ip.v6 = true;
  v6.ip.b.fill(0x20);
  v6.port = 51413;
  res.peers = {v4, v6, v4};
  for (bool want_v6 : {false, true}) {
    auto wire = encode_bep15_announce(77, want_v6, res);
    loadtest::bep15::Reply r;
    ASSERT_EQ(loadtest::bep15::parse_reply({reinterpret_cast<const uint8_t*>(wire.data()), wire.size()}, want_v6, r),
              loadtest::bep15::ReplyError::ok);
    EXPECT_EQ(r.transaction_id, 77u);
    EXPECT_EQ(r.interval, 1800u);
    EXPECT_EQ(r.seeders, 3u);
    EXPECT_EQ(r.leechers, 4u);
    EXPECT_EQ(r.peers, want_v6 ? 1u : 2u);
  }
}

}  // namespace
}  // namespace otaswarm
